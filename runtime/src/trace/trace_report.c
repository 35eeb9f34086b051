/* report.html: one self-contained page (inline CSS and JavaScript, nothing fetched). The
 * tables are written here as HTML; the Gantt chart is drawn on a canvas from a compact array
 * of boxes embedded in the page. Past MAX_BOXES tasks, the boxes are time bins instead: per
 * worker and bin, the busy fraction and the codelet that took most of it. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dusk_trace.h"
#include "io.h"
#include "trace_live.h"
#include "trace_read.h"
#include "trace_util.h"

#define MAX_BOXES 20000
#define MAX_COLOURED 16 /* codelets with their own colour in the chart; then "other" */
#define MAX_FAILED_ROWS 200

static void html(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* a duration in a readable unit */
static const char *dur_str(char *buf, size_t len, double s)
{
    /* the thresholds are where the rounded figure reaches the next unit: 1 ms, not 1000.0 µs */
    if (s >= 0.9995)
        snprintf(buf, len, "%.3f s", s);
    else if (s >= 9.995e-3)
        snprintf(buf, len, "%.1f ms", s * 1e3);
    else if (s >= 0.99995e-3)
        snprintf(buf, len, "%.2f ms", s * 1e3);
    else
        snprintf(buf, len, "%.1f µs", s * 1e6);
    return buf;
}

static const char CSS[] =
    "*{box-sizing:border-box}"
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
    "margin:0;background:#f4f6f8;color:#1d232b}"
    "header{background:#1f2d3d;color:#fff;padding:18px 28px}"
    "header h1{margin:0;font-size:21px;font-weight:600;letter-spacing:.01em;"
    "overflow-wrap:anywhere}"
    "header .meta{font-size:13px;color:#dbe5ef;margin-top:4px}"
    "header .params{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;"
    "font-size:12.5px;color:#c4d3e2;margin-top:6px;word-break:break-all}"
    "header .params.none{font-family:inherit;font-style:italic;word-break:normal}"
    "main{padding:18px 28px}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:16px}"
    ".card{background:#fff;border:1px solid #dfe4ea;border-radius:8px;padding:9px 16px;"
    "min-width:140px}"
    ".card .v{font-size:20px;font-weight:600}"
    ".card .l{font-size:11.5px;color:#66727f;text-transform:uppercase;letter-spacing:.05em}"
    ".card.bad .v{color:#b42318}"
    "section{background:#fff;border:1px solid #dfe4ea;border-radius:8px;padding:14px 18px;"
    "margin-bottom:16px}"
    "h2{font-size:15.5px;margin:0 0 10px;font-weight:600}"
    /* a table wider than its section scrolls inside it, never the page */
    ".tw{overflow-x:auto;max-width:100%}"
    "table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}"
    "th,td{padding:4px 12px;text-align:right;border-bottom:1px solid #edf0f3;white-space:nowrap}"
    "th{color:#66727f;font-weight:600;border-bottom:1px solid #d5dbe1}"
    "td.l,th.l{text-align:left}"
    "td.w{white-space:normal;overflow-wrap:break-word}td.r{min-width:10em}"
    "td small{display:block;color:#66727f;font-size:11.5px}"
    ".bar{display:inline-block;background:#e8ecf0;border-radius:3px;width:200px;height:11px;"
    "vertical-align:-1px}"
    ".bar i{display:block;height:100%;background:#3b82c4;border-radius:3px}"
    ".note{color:#7a5200;background:#fff5dc;border:1px solid #efd9a0;padding:6px 10px;"
    "border-radius:6px;font-size:13px;margin:0 0 10px}"
    ".legend{margin:0 0 8px;font-size:12.5px}"
    ".legend span{display:inline-block;margin-right:16px}"
    ".legend b{display:inline-block;width:12px;height:12px;border-radius:2px;"
    "vertical-align:-2px;margin-right:5px;border:1px solid rgba(0,0,0,.2)}"
    ".legend b.failed{background:#fff;border:3px solid #d92d20}"
    "#gantt{display:block;width:100%}"
    "#tip{position:fixed;pointer-events:none;background:#1f2d3d;color:#fff;padding:6px 9px;"
    "border-radius:5px;font-size:12px;display:none;white-space:pre;z-index:9}"
    ".chain{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;"
    "font-size:12.5px;word-break:break-word;line-height:1.7}"
    ".chain i{color:#8a96a3;font-style:normal}"
    ".fail{color:#b42318}"
    "footer{color:#8a96a3;font-size:12px;padding:0 28px 20px}"
    /* narrow windows: tighter margins and cells, headers that wrap, shorter bars */
    "@media (max-width:760px){header{padding:14px 14px}main{padding:12px 10px}"
    "section{padding:10px 10px}footer{padding:0 10px 16px}table{font-size:12px}"
    "th,td{padding:3px 4px}"
    "th{white-space:normal}.bar{width:50px}.card{min-width:0;padding:7px 12px}"
    ".card .v{font-size:17px}.legend span{margin-right:10px}}";

/* Draws D (see write_boxes) on the canvas; tooltips by binary search in the hovered row.
 * The time axis has as many labels as fit the width; failed tasks are drawn last, at least
 * 6 px wide, with a 3 px red outline, so that none hides in a narrow chart. */
static const char JS[] =
    "(function(){\n"
    "const c=document.getElementById('gantt'),x=c.getContext('2d'),"
    "tip=document.getElementById('tip');\n"
    "const R=D.rows.length,AX=26,RH=R>40?Math.max(6,Math.floor(640/R)):24;\n"
    "const rowStart=new Int32Array(R+1);\n"
    "for(let i=0;i<D.b.length;i+=5)rowStart[D.b[i]+1]++;\n"
    "for(let r=0;r<R;r++)rowStart[r+1]+=rowStart[r];\n"
    "function fmt(us){return us===0?'0':us>=1e6?(us/1e6).toFixed(3)+' s':"
    "us>=1e3?(us/1e3).toFixed(2)+' ms':us.toFixed(1)+' µs';}\n"
    "function items(f,n,st){const l=f+(n-1)*st;return n===1?'item '+f:st===1?"
    "'items '+f+'–'+l+' ('+n+')':'items '+f+', '+(f+st)+', … '+l+' ('+n+', every '+st+')';}\n"
    "let W=0,LW=170;\n"
    "function draw(){\n"
    " const dpr=window.devicePixelRatio||1,w=c.clientWidth,h=AX+R*RH+6;\n"
    " c.width=w*dpr;c.height=h*dpr;c.style.height=h+'px';x.setTransform(dpr,0,0,dpr,0,0);\n"
    " LW=Math.round(Math.min(170,Math.max(80,w*.2)));W=Math.max(w-LW-10,10);\n"
    " const sx=W/Math.max(D.t1,1e-9);\n"
    " x.fillStyle='#fff';x.fillRect(0,0,w,h);\n"
    " x.font='12px system-ui,sans-serif';x.textBaseline='middle';\n"
    " for(let r=0;r<R;r++){const y=AX+r*RH;if(r%2){x.fillStyle='#f6f8fa';x.fillRect(0,y,w,RH);}\n"
    "  "
    "if(RH>=10){x.fillStyle='#333';x.textAlign='right';x.fillText(D.rows[r],LW-8,y+RH/2,LW-12);}}\n"
    /* ticks: 1, 2 or 5 times a power of ten, as many as labels of the widest kind fit */
    " const lw=Math.max(x.measureText(fmt(D.t1)).width,x.measureText(fmt(D.t1*.99)).width)+16;\n"
    " const most=Math.max(1,Math.floor(W/lw));\n"
    " const step=Math.pow(10,Math.floor(Math.log10(D.t1/most||1)));let tk=step*10;\n"
    " for(const m of [1,2,5,10]){if(D.t1/(step*m)<=most){tk=step*m;break;}}\n"
    " x.textAlign='center';x.strokeStyle='#e3e7eb';x.fillStyle='#66727f';let right=-1e9;\n"
    " for(let k=0;k*tk<=D.t1+1e-9;k++){const t=k*tk,px=LW+t*sx;x.beginPath();\n"
    "  x.moveTo(px+.5,AX-4);x.lineTo(px+.5,AX+R*RH);x.stroke();\n"
    "  const s=fmt(t),tw=x.measureText(s).width,cx=Math.min(px,w-tw/2-2);\n"
    "  if(cx-tw/2<right+8)continue;x.fillText(s,cx,AX-13);right=cx+tw/2;}\n"
    " const failed=[];\n"
    " for(let i=0;i<D.b.length;i+=5){\n"
    "  const r=D.b[i],t=D.b[i+1],d=D.b[i+2],k=D.b[i+3],fl=D.b[i+4];\n"
    "  const px=LW+t*sx,pw=Math.max(d*sx,1),y=AX+r*RH+2,ph=RH-4;\n"
    "  if(!D.agg&&fl){failed.push(i);continue;}\n"
    "  x.globalAlpha=D.agg?Math.max(.15,fl/100):1;x.fillStyle=D.col[k];x.fillRect(px,y,pw,ph);\n"
    "  x.globalAlpha=1;\n"
    "  if(!D.agg&&pw>=4&&ph>=8){x.strokeStyle='rgba(0,0,0,.25)';"
    "x.strokeRect(px+.5,y+.5,pw-1,ph-1);}\n"
    " }\n"
    " for(const i of failed){\n"
    "  const r=D.b[i],t=D.b[i+1],d=D.b[i+2],k=D.b[i+3];\n"
    "  const pw=Math.max(d*sx,6),px=LW+t*sx+Math.min(d*sx-pw,0)/2,y=AX+r*RH+2,ph=RH-4;\n"
    "  x.fillStyle=D.col[k];x.fillRect(px,y,pw,ph);\n"
    "  x.strokeStyle='#d92d20';x.lineWidth=3;x.strokeRect(px-.5,y-.5,pw+1,ph+1);x.lineWidth=1;\n"
    " }\n"
    " x.strokeStyle='#c9d0d7';x.beginPath();x.moveTo(LW+.5,AX-4);x.lineTo(LW+.5,AX+R*RH);"
    "x.stroke();\n"
    "}\n"
    "function hit(ev){\n"
    " const b=c.getBoundingClientRect(),mx=ev.clientX-b.left,my=ev.clientY-b.top;\n"
    " const r=Math.floor((my-AX)/RH);if(r<0||r>=R||mx<LW)return -1;\n"
    " const t=(mx-LW)/W*D.t1,tol=3/W*D.t1;let lo=rowStart[r],hi=rowStart[r+1]-1,best=-1;\n"
    " while(lo<=hi){const m=(lo+hi)>>1;if(D.b[m*5+1]<=t+tol){best=m;lo=m+1;}else hi=m-1;}\n"
    " for(let m=best;m>=rowStart[r]&&m>best-50;m--){if(D.b[m*5+1]+D.b[m*5+2]>=t-tol)return m;}\n"
    " return -1;}\n"
    "c.addEventListener('mousemove',function(ev){const m=hit(ev);"
    "if(m<0){tip.style.display='none';return;}\n"
    " const i=m*5,k=D.b[i+3];let s;\n"
    " if(D.agg)s=D.rows[D.b[i]]+'\\n'+fmt(D.b[i+1])+' … '+fmt(D.b[i+1]+D.b[i+2])+'\\n'+"
    "D.b[i+4]+'% busy, mostly '+D.cl[k];\n"
    " else{s=D.k[m]+'  ('+D.cl[k]+')\\n'+D.rows[D.b[i]]+'\\nstart '+fmt(D.b[i+1])+', '+"
    "fmt(D.b[i+2]);\n"
    "  if(D.it&&D.it[m*3+1])s+='\\n'+items(D.it[m*3],D.it[m*3+1],D.it[m*3+2]);\n"
    "  if(D.b[i+4])s+='\\nFAILED: '+D.st[m];}\n"
    " tip.textContent=s;tip.style.display='block';tip.style.left=Math.min(ev.clientX+14,"
    "window.innerWidth-tip.offsetWidth-4)+'px';tip.style.top=(ev.clientY+12)+'px';});\n"
    "c.addEventListener('mouseleave',function(){tip.style.display='none';});\n"
    "window.addEventListener('resize',draw);draw();\n"
    "})();\n";

typedef struct report_item {
    int row;
    double start;
    int64_t i;
} report_item;

static int cmp_item(const void *x, const void *y)
{
    const report_item *a = x, *b = y;
    if (a->row != b->row) return a->row < b->row ? -1 : 1;
    return a->start < b->start ? -1 : a->start > b->start;
}

/* The chart's rows (one per worker; tasks that never ran have no time and are left out)
 * and its boxes, as the JavaScript object D: b holds 5 numbers per box (row, start and
 * duration in µs, colour index, failed flag or, aggregated, busy %), k the boxes' keys. */
static int write_boxes(FILE *f, const dusk_trace_set *s, const dusk__analysis *a, int *agg_out)
{
    /* colour index per codelet: the MAX_COLOURED - 1 largest by time, then "other" */
    int ncol = a->ncodelets < MAX_COLOURED ? a->ncodelets : MAX_COLOURED;
    const char *names[MAX_COLOURED];
    for (int c = 0; c < ncol; c++)
        names[c] =
            c == MAX_COLOURED - 1 && a->ncodelets > MAX_COLOURED ? "other" : a->codelets[c].codelet;
    int64_t nran = 0;
    for (int64_t i = 0; i < s->ntasks; i++)
        nran += s->tasks[i].worker >= 0;
    int agg = nran > MAX_BOXES;
    *agg_out = agg;
    int R = s->nworkers;
    double t1 = a->st.makespan;

    fputs("const D={rows:[", f);
    dusk__sb b;
    char buf[512];
    dusk__sb_init(&b, buf, sizeof buf);
    for (int w = 0; w < R; w++) {
        b.len = 0;
        if (s->nranks > 1) dusk__sb_printf(&b, "rank %d · ", s->workers[w].rank);
        dusk__sb_puts(&b, s->workers[w].name);
        /* json-escape the composed name */
        char *name = malloc(b.len + 1);
        if (name == NULL) return DUSK_ENOMEM;
        memcpy(name, b.p, b.len + 1);
        b.len = 0;
        dusk__sb_json(&b, name);
        free(name);
        fprintf(f, "%s%s", w ? "," : "", b.p);
    }
    fputs("],cl:[", f);
    for (int c = 0; c < ncol; c++) {
        b.len = 0;
        dusk__sb_json(&b, names[c]);
        fprintf(f, "%s%s", c ? "," : "", b.p);
    }
    fputs("],col:[", f);
    for (int c = 0; c < ncol; c++)
        fprintf(f, "%s\"%s\"", c ? "," : "", dusk__codelet_color(names[c]));
    fprintf(f, "],t1:%.3f,agg:%d,b:[", t1 * 1e6, agg);

    if (!agg) {
        /* boxes sorted by (row, start), for the tooltip's binary search */
        report_item *items = malloc((size_t)(nran + 1) * sizeof *items);
        if (items == NULL) {
            dusk__sb_free(&b);
            return DUSK_ENOMEM;
        }
        int64_t n = 0;
        for (int64_t i = 0; i < s->ntasks; i++) {
            const dusk_trace_task *t = &s->tasks[i];
            if (t->worker >= 0)
                items[n++] =
                    (report_item){dusk__trace_worker_index(s, t->rank, t->worker), t->start, i};
        }
        qsort(items, (size_t)n, sizeof *items, cmp_item);
        for (int64_t k = 0; k < n; k++) {
            const dusk_trace_task *t = &s->tasks[items[k].i];
            int c = 0;
            while (c < ncol - 1 && names[c] != t->codelet)
                c++;
            fprintf(f, "%s%d,%.1f,%.1f,%d,%d", k ? "," : "", items[k].row, (t->start - a->t0) * 1e6,
                    t->dur * 1e6, c, t->status != 0);
        }
        fputs("],k:[", f);
        for (int64_t k = 0; k < n; k++) {
            b.len = 0;
            dusk__sb_json(&b, s->tasks[items[k].i].key);
            fprintf(f, "%s%s", k ? "," : "", b.p);
        }
        /* st: the failed boxes' status; it: 3 numbers per box (first, count, step), only
         * when some task carries items */
        fputs("],st:{", f);
        for (int64_t k = 0, first = 1; k < n; k++) {
            const dusk_trace_task *t = &s->tasks[items[k].i];
            if (t->status == 0) continue;
            char text[64];
            b.len = 0;
            dusk__sb_json(&b, dusk__trace_status_text(t->status, text, sizeof text));
            fprintf(f, "%s\"%lld\":%s", first ? "" : ",", (long long)k, b.p);
            first = 0;
        }
        fputs("}", f);
        if (a->st.nitems) {
            fputs(",it:[", f);
            for (int64_t k = 0; k < n; k++) {
                const dusk_trace_task *t = &s->tasks[items[k].i];
                fprintf(f, "%s%lld,%lld,%lld", k ? "," : "", (long long)t->item_first,
                        (long long)t->item_count, (long long)t->item_step);
            }
            fputs("]", f);
        }
        fputs("};\n", f);
        free(items);
    } else {
        int nbins = MAX_BOXES / (R ? R : 1);
        nbins = nbins > 1000 ? 1000 : nbins < 50 ? 50 : nbins;
        double bw = t1 / nbins;
        double *busy = calloc((size_t)R * (size_t)nbins * MAX_COLOURED, sizeof *busy);
        if (busy == NULL) {
            dusk__sb_free(&b);
            return DUSK_ENOMEM;
        }
        for (int64_t i = 0; i < s->ntasks && bw > 0; i++) {
            const dusk_trace_task *t = &s->tasks[i];
            if (t->worker < 0) continue;
            int row = dusk__trace_worker_index(s, t->rank, t->worker);
            int c = 0;
            while (c < ncol - 1 && names[c] != t->codelet)
                c++;
            double st = t->start - a->t0, en = st + t->dur;
            for (int k = (int)(st / bw); k < nbins && k * bw < en; k++) {
                double lo = fmax(st, k * bw), hi = fmin(en, (k + 1) * bw);
                if (hi > lo) busy[((size_t)row * nbins + k) * MAX_COLOURED + c] += hi - lo;
            }
        }
        int first = 1;
        for (int r = 0; r < R; r++)
            for (int k = 0; k < nbins; k++) {
                double *v = &busy[((size_t)r * nbins + k) * MAX_COLOURED], tot = 0;
                int best = 0;
                for (int c = 0; c < MAX_COLOURED; c++) {
                    tot += v[c];
                    if (v[c] > v[best]) best = c;
                }
                int pct = (int)lround(100 * tot / bw);
                if (pct <= 0) continue;
                fprintf(f, "%s%d,%.1f,%.1f,%d,%d", first ? "" : ",", r, k * bw * 1e6, bw * 1e6,
                        best, pct > 100 ? 100 : pct);
                first = 0;
            }
        fputs("],k:[]};\n", f);
        free(busy);
    }
    dusk__sb_free(&b);
    return 0;
}

static void card(FILE *f, const char *label, const char *value, int bad)
{
    fprintf(f, "<div class=\"card%s\"><div class=\"v\">", bad ? " bad" : "");
    html(f, value);
    fputs("</div><div class=\"l\">", f);
    html(f, label);
    fputs("</div></div>\n", f);
}

/* "items 3-9", "items 0, 4, ... 36": a task's items, for the failed tasks' table */
static const char *items_str(char *buf, size_t len, const dusk_trace_task *t)
{
    long long first = t->item_first, n = t->item_count, step = t->item_step;
    long long last = first + (n - 1) * step;
    if (n == 0)
        snprintf(buf, len, "%s", "");
    else if (n == 1)
        snprintf(buf, len, "%lld", first);
    else if (step == 1)
        snprintf(buf, len, "%lld–%lld", first, last);
    else
        snprintf(buf, len, "%lld, %lld, … %lld", first, first + step, last);
    return buf;
}

/* The header: the program (when the trace says which), the date of the run, what it ran on
 * and its description; a trace without a description says so rather than show nothing. */
static void header(FILE *f, const dusk_trace_set *set, const dusk_trace_stats *st,
                   const char *params)
{
    char program[256], date[64] = "", iso[64] = "";
    const char *prog = dusk__trace_program(set, program, sizeof program);
    if (set->has_epoch) {
        time_t t = (time_t)set->base_epoch;
        struct tm tm;
        if (localtime_r(&t, &tm) != NULL) {
            strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %z", &tm);
            strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S%z", &tm);
        }
    }
    fputs("<title>", f);
    if (prog) {
        html(f, prog);
        fputs(" · ", f);
    }
    fprintf(f, "dusk trace report</title>\n<style>%s</style></head><body>\n<header><h1>", CSS);
    html(f, prog ? prog : "dusk trace report");
    fputs("</h1>\n<div class=\"meta\">", f);
    if (prog) fputs("dusk trace report · ", f);
    if (*date) {
        fprintf(f, "<time datetime=\"%s\">%s</time> · ", iso, date);
    }
    fprintf(f, "%d rank%s · %d worker%s · %lld task%s", st->nranks, st->nranks == 1 ? "" : "s",
            st->nworkers, st->nworkers == 1 ? "" : "s", (long long)st->ntasks,
            st->ntasks == 1 ? "" : "s");
    if (st->nitems) fprintf(f, " (%lld items)", (long long)st->nitems);
    fputs("</div>\n", f);
    int shown = 0;
    if (params && *params) {
        fputs("<div class=\"params\">", f);
        html(f, params);
        fputs("</div>", f);
        shown = 1;
    } else {
        for (int r = 0; r < set->nranks; r++) {
            if (!set->ranks[r].params || !*set->ranks[r].params) continue;
            /* ranks of one run usually say the same: once is enough */
            int dup = 0;
            for (int q = 0; q < r && !dup; q++)
                dup =
                    set->ranks[q].params && strcmp(set->ranks[q].params, set->ranks[r].params) == 0;
            if (dup) continue;
            fputs("<div class=\"params\">", f);
            if (set->nranks > 1) fprintf(f, "rank %d: ", set->ranks[r].rank);
            html(f, set->ranks[r].params);
            fputs("</div>", f);
            shown = 1;
        }
    }
    int cut = 0;
    for (int r = 0; r < set->nranks; r++)
        cut |= set->ranks[r].truncated;
    if (!shown && cut)
        fputs("<div class=\"params none\">No description of the run: it is recorded when the run "
              "ends, and this trace was cut short.</div>",
              f);
    else if (!shown)
        fputs("<div class=\"params none\">The run recorded no description of itself (a program "
              "gives one with dusk_set_run_info()).</div>",
              f);
    fputs("</header>\n", f);
}

static void table_open(FILE *f)
{
    fputs("<div class=\"tw\"><table>", f);
}

static void table_close(FILE *f)
{
    fputs("</table></div>", f);
}

int dusk_trace_write_report(const dusk_trace_set *set, const char *path, const char *params)
{
    if (set == NULL || path == NULL) return DUSK_EINVAL;
    dusk__analysis a;
    int rc = dusk__trace_analyse(set, &a);
    if (rc != 0) return rc;
    dusk__atomic at;
    FILE *f = dusk__atomic_open(&at, path);
    if (f == NULL) {
        int err = errno;
        dusk__trace_analysis_free(&a);
        errno = err;
        return DUSK_EIO;
    }
    const dusk_trace_stats *st = &a.st;
    char v[128], d1[32], d2[32], d3[32], d4[32];

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n",
          f);
    header(f, set, st, params);
    fputs("<main>\n", f);
    for (int r = 0; r < set->nranks; r++) {
        const dusk__rank *k = &set->ranks[r];
        if (!k->truncated) continue;
        fprintf(f,
                "<p class=\"note\">The trace of rank %d is truncated: the run did not finish "
                "(it was killed, or its disk filled). This report shows what it recorded up to "
                "then%s.</p>\n",
                k->rank,
                k->has_epoch || set->nranks == 1
                    ? ""
                    : "; the rank's start was not recorded, so it is drawn as if it started "
                      "with the earliest rank");
    }
    fputs("<div class=\"cards\">\n", f);
    snprintf(v, sizeof v, "%lld", (long long)st->ntasks);
    if (st->nitems)
        snprintf(d1, sizeof d1, "tasks (%lld items)", (long long)st->nitems);
    else
        snprintf(d1, sizeof d1, "tasks");
    card(f, d1, v, 0);
    snprintf(v, sizeof v, "%lld", (long long)st->nfailed);
    card(f, "failed", v, st->nfailed > 0);
    if (st->nskipped) {
        snprintf(v, sizeof v, "%lld", (long long)st->nskipped);
        card(f, "not run (a task they need failed)", v, 1);
    }
    if (st->nitems_failed) {
        snprintf(v, sizeof v, "%lld", (long long)st->nitems_failed);
        card(f, "items without a result", v, 1);
    }
    card(f, "makespan", dur_str(d1, sizeof d1, st->makespan), 0);
    snprintf(v, sizeof v, "%.1f /s", st->throughput);
    card(f, "throughput", v, 0);
    snprintf(v, sizeof v, "%d", st->nworkers);
    card(f, st->nranks > 1 ? "workers (all ranks)" : "workers", v, 0);
    snprintf(v, sizeof v, "%.1f %%", 100 * st->efficiency);
    card(f, "parallel efficiency", v, 0);
    card(f, "critical path", dur_str(d1, sizeof d1, st->critical_path), 0);
    fputs("</div>\n", f);

    /* Gantt */
    fputs("<section><h2>Tasks per worker</h2>\n<div class=\"legend\">", f);
    int ncol = a.ncodelets < MAX_COLOURED ? a.ncodelets : MAX_COLOURED;
    for (int c = 0; c < ncol; c++) {
        const char *name =
            c == MAX_COLOURED - 1 && a.ncodelets > MAX_COLOURED ? "other" : a.codelets[c].codelet;
        fprintf(f, "<span><b style=\"background:%s\"></b>", dusk__codelet_color(name));
        html(f, name);
        fputs("</span>", f);
    }
    if (st->nfailed) fputs("<span><b class=\"failed\"></b>failed</span>", f);
    fputs("</div>\n", f);
    int64_t nran = 0;
    for (int64_t i = 0; i < set->ntasks; i++)
        nran += set->tasks[i].worker >= 0;
    if (nran > MAX_BOXES)
        fprintf(f,
                "<p class=\"note\">%lld tasks are too many to draw one by one: the chart "
                "shows each worker's time in bins, shaded by how busy the worker was and "
                "coloured by the codelet that took most of the bin.</p>\n",
                (long long)nran);
    if (nran < set->ntasks)
        fprintf(f,
                "<p class=\"note\">%lld task%s never ran (a task %s depend%s on failed, or the "
                "run was cancelled) and %s not drawn.</p>\n",
                (long long)(set->ntasks - nran), set->ntasks - nran == 1 ? "" : "s",
                set->ntasks - nran == 1 ? "it" : "they", set->ntasks - nran == 1 ? "s" : "",
                set->ntasks - nran == 1 ? "is" : "are");
    fputs("<canvas id=\"gantt\"></canvas></section>\n", f);

    /* utilisation */
    fputs("<section><h2>Worker utilisation</h2>", f);
    table_open(f);
    fputs("<tr>", f);
    if (set->nranks > 1) fputs("<th class=\"l\">rank</th>", f);
    fputs("<th class=\"l\">worker</th><th>tasks</th><th>busy</th><th class=\"l\">busy %</th>"
          "<th>idle gaps</th><th>idle total</th><th>longest gap</th></tr>\n",
          f);
    for (int w = 0; w < set->nworkers; w++) {
        const dusk__wstats *x = &a.workers[w];
        double pct = st->makespan > 0 ? 100 * x->busy / st->makespan : 0;
        fputs("<tr>", f);
        if (set->nranks > 1) fprintf(f, "<td class=\"l\">%d</td>", set->workers[w].rank);
        fputs("<td class=\"l\">", f);
        html(f, set->workers[w].name);
        fprintf(f,
                "</td><td>%lld</td><td>%s</td><td class=\"l\"><span class=\"bar\">"
                "<i style=\"width:%.1f%%\"></i></span> %.1f %%</td><td>%lld</td><td>%s</td>"
                "<td>%s</td></tr>\n",
                (long long)x->tasks, dur_str(d1, sizeof d1, x->busy), pct > 100 ? 100 : pct, pct,
                (long long)x->gaps, dur_str(d2, sizeof d2, x->gaps_total),
                dur_str(d3, sizeof d3, x->gaps_longest));
    }
    table_close(f);
    fputs("</section>\n", f);

    /* codelets */
    fputs("<section><h2>Codelets</h2>", f);
    table_open(f);
    fputs("<tr><th class=\"l\">codelet</th><th>count</th>", f);
    if (st->nitems) fputs("<th>items</th>", f);
    fputs("<th>failed</th><th>mean</th><th>p50</th><th>p95</th><th>total</th>"
          "<th>share of task time</th></tr>\n",
          f);
    for (int c = 0; c < a.ncodelets; c++) {
        const dusk__cstats *x = &a.codelets[c];
        fprintf(f,
                "<tr><td class=\"l\"><span class=\"legend\"><b style=\"background:%s\">"
                "</b></span>",
                dusk__codelet_color(x->codelet));
        html(f, x->codelet);
        fprintf(f, "</td><td>%lld</td>", (long long)x->count);
        if (st->nitems) fprintf(f, "<td>%lld</td>", (long long)x->items);
        fprintf(f,
                "<td%s>%lld</td><td>%s</td><td>%s</td><td>%s</td>"
                "<td>%s</td><td>%.1f %%</td></tr>\n",
                x->failed ? " class=\"fail\"" : "", (long long)x->failed,
                dur_str(d1, sizeof d1, x->mean), dur_str(d2, sizeof d2, x->p50),
                dur_str(d3, sizeof d3, x->p95), dur_str(d4, sizeof d4, x->total),
                st->task_time > 0 ? 100 * x->total / st->task_time : 0.0);
    }
    table_close(f);
    fputs("</section>\n", f);

    /* critical path */
    fprintf(f,
            "<section><h2>Critical path</h2><p>%lld task%s, %s (%.1f %% of the "
            "makespan): the longest chain of dependent tasks, by their durations.</p>"
            "<div class=\"chain\">",
            (long long)a.npath, a.npath == 1 ? "" : "s", dur_str(d1, sizeof d1, st->critical_path),
            st->makespan > 0 ? 100 * st->critical_path / st->makespan : 0.0);
    for (int64_t k = 0; k < a.npath; k++) {
        if (a.npath > 60 && k == 30) {
            fprintf(f, " <i>→ … %lld more …</i>", (long long)(a.npath - 60));
            k = a.npath - 30;
        }
        if (k) fputs(" <i>→</i> ", f);
        html(f, set->tasks[a.path[k]].key);
    }
    fputs("</div></section>\n", f);

    /* failures */
    fputs("<section><h2>Failed tasks</h2>", f);
    if (st->nfailed + st->nskipped == 0) {
        fputs("<p>None: every task succeeded.</p>", f);
    } else {
        table_open(f);
        /* few columns, long texts wrapping: it reads at 600 px */
        fputs("<tr><th class=\"l\">task</th><th class=\"l\">codelet</th>", f);
        if (st->nitems) fputs("<th class=\"l\">items</th>", f);
        fputs("<th class=\"l\">status</th><th>attempts</th><th class=\"l\">worker</th>"
              "<th class=\"l\">reason</th></tr>\n",
              f);
        int64_t shown = 0;
        for (int64_t i = 0; i < set->ntasks && shown < MAX_FAILED_ROWS; i++) {
            const dusk_trace_task *t = &set->tasks[i];
            if (t->status == 0) continue;
            char text[64], range[96];
            fputs("<tr><td class=\"l\">", f);
            html(f, t->key);
            if (set->nranks > 1)
                fprintf(f, "<small>rank %d, id %lld</small>", t->rank, (long long)t->id);
            else
                fprintf(f, "<small>id %lld</small>", (long long)t->id);
            fputs("</td><td class=\"l\">", f);
            html(f, t->codelet);
            fputs("</td>", f);
            if (st->nitems)
                fprintf(f, "<td class=\"l w\">%s<small>%lld without a result</small></td>",
                        items_str(range, sizeof range, t), (long long)t->items_failed);
            fputs("<td class=\"l w fail\">", f);
            html(f, dusk__trace_status_text(t->status, text, sizeof text));
            fprintf(f, "</td><td>%d</td><td class=\"l\">", t->attempts);
            int w = t->worker >= 0 ? dusk__trace_worker_index(set, t->rank, t->worker) : -1;
            html(f, w >= 0 ? set->workers[w].name : "never ran");
            fputs("</td><td class=\"l w r\">", f);
            html(f, t->reason ? t->reason : "");
            fputs("</td></tr>\n", f);
            shown++;
        }
        table_close(f);
        if (st->nfailed + st->nskipped > shown)
            fprintf(f, "<p>… and %lld more.</p>", (long long)(st->nfailed + st->nskipped - shown));
    }
    fputs("</section>\n</main>\n", f);
    fprintf(f, "<footer>dusk %s · %lld tasks", DUSK_VERSION_STRING, (long long)st->ntasks);
    if (st->nitems) fprintf(f, " (%lld items)", (long long)st->nitems);
    fprintf(f,
            " on %d rank%s · times from the first task's start</footer>\n<div id=\"tip\"></div>\n"
            "<script>\n",
            st->nranks, st->nranks == 1 ? "" : "s");
    int agg;
    rc = write_boxes(f, set, &a, &agg);
    fprintf(f, "%s</script>\n</body></html>\n", JS);
    dusk__trace_analysis_free(&a);
    if (rc != 0) {
        dusk__atomic_abort(&at);
        return rc;
    }
    return dusk__atomic_commit(&at) == 0 ? 0 : DUSK_EIO;
}

/* ---- the live report (trace_live.h) ------------------------------------------------------ */

/* "MM:SS", "H:MM:SS", or "?", as the progress lines say it */
static const char *clock_str(char *buf, size_t len, double s)
{
    if (!(s >= 0) || s > 359999)
        snprintf(buf, len, "?");
    else if (s >= 3600)
        snprintf(buf, len, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(buf, len, "%02d:%02d", (int)s / 60, (int)s % 60);
    return buf;
}

/* A round step (1, 2 or 5 times a power of ten) that cuts `span` in at most `most` parts. */
static double nice_step(double span, int most)
{
    if (!(span > 0)) return 1;
    double step = pow(10, floor(log10(span / most)));
    for (int k = 0; k < 3; k++) {
        double m = k == 0 ? 1 : k == 1 ? 2 : 5;
        if (span / (step * m) <= most) return step * m;
    }
    return step * 10;
}

/* A round step of time: seconds, then minutes, then hours. */
static double time_step(double span, int most)
{
    static const double steps[] = {1,   2,   5,    10,   15,   30,    60,    120,   300,
                                   600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400};
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++)
        if (span / steps[k] <= most) return steps[k];
    return nice_step(span, most);
}

static const char LIVE_CSS[] =
    ".live{display:inline-block;background:#2f9e5b;color:#fff;border-radius:10px;"
    "padding:1px 9px;font-size:12px;font-weight:600;margin-left:8px;vertical-align:3px;"
    "letter-spacing:.04em}"
    ".live i{display:inline-block;width:7px;height:7px;border-radius:50%;background:#fff;"
    "margin-right:5px;vertical-align:1px;animation:pulse 1.6s ease-in-out infinite}"
    "@keyframes pulse{50%{opacity:.25}}"
    ".progress{height:22px;background:#e8ecf0;border-radius:6px;overflow:hidden;"
    "margin:4px 0 6px;display:flex}"
    ".progress .b{background:#9db8d2}.progress .d{background:#3b82c4}"
    ".progress .f{background:#d92d20}"
    ".pct{font-size:28px;font-weight:600;margin-right:10px}"
    ".sub{color:#66727f;font-size:13px}"
    ".live.off{background:#8a1c13}"
    ".stale{background:#fdecea;border:1px solid #d92d20;color:#8a1c13;border-radius:6px;"
    "padding:8px 12px}"
    "#rate{display:block;width:100%;height:auto;max-height:300px}"
    "#rate text{font:12px system-ui,sans-serif;fill:#66727f}";

/* The rate chart: items per second between two samples, as steps, over the run's time. */
static void rate_chart(FILE *f, const dusk__live_view *v)
{
    const double W = 960, H = 240, L = 62, R = 14, T = 12, B = 30;
    double tmax = v->seconds > 0 ? v->seconds : 1, rmax = 0;
    if (v->nsamples > 0 && v->t[v->nsamples - 1] > tmax) tmax = v->t[v->nsamples - 1];
    for (int i = 1; i < v->nsamples; i++) {
        double dt = v->t[i] - v->t[i - 1];
        double r = dt > 0 ? (double)(v->n[i] - v->n[i - 1]) / dt : 0;
        if (r > rmax) rmax = r;
    }
    double ystep = nice_step(rmax > 0 ? rmax : 1, 4),
           ytop = ystep * ceil((rmax > 0 ? rmax : 1) / ystep);
    double xs = (W - L - R) / tmax, ys = (H - T - B) / ytop;
    fprintf(f,
            "<svg id=\"rate\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
            "aria-label=\"%s per second over time\">\n",
            W, H, v->plural);
    for (double y = 0; y <= ytop * 1.0001; y += ystep) {
        double py = H - B - y * ys;
        fprintf(f,
                "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>"
                "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"middle\">"
                "%g</text>\n",
                L, W - R, py, py, y == 0 ? "#c9d0d7" : "#edf0f3", L - 8, py, y);
    }
    double xstep = time_step(tmax, 8);
    for (double x = 0; x <= tmax * 1.0001; x += xstep) {
        char c[16];
        double px = L + x * xs;
        fprintf(f,
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#c9d0d7\"/>"
                "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"%s\">%s</text>\n",
                px, px, H - B, H - B + 4, px > W - R - 24 ? W - 2 : px, H - B + 18,
                px > W - R - 24 ? "end" : "middle", clock_str(c, sizeof c, x));
    }
    fprintf(f,
            "<text x=\"14\" y=\"%.0f\" transform=\"rotate(-90 14 %.0f)\" "
            "text-anchor=\"middle\">%s/s</text>\n",
            (H - B + T) / 2, (H - B + T) / 2, v->plural);
    if (v->nsamples >= 2) {
        /* steps: the area under them, then their outline */
        for (int pass = 0; pass < 2; pass++) {
            fputs(pass ? "<polyline fill=\"none\" stroke=\"#3b82c4\" stroke-width=\"2\" "
                         "stroke-linejoin=\"round\" points=\""
                       : "<polygon fill=\"#3b82c4\" fill-opacity=\".18\" points=\"",
                  f);
            if (!pass) fprintf(f, "%.1f,%.1f ", L + v->t[0] * xs, H - B);
            for (int i = 1; i < v->nsamples; i++) {
                double dt = v->t[i] - v->t[i - 1];
                double r = dt > 0 ? (double)(v->n[i] - v->n[i - 1]) / dt : 0;
                fprintf(f, "%.1f,%.1f %.1f,%.1f ", L + v->t[i - 1] * xs, H - B - r * ys,
                        L + v->t[i] * xs, H - B - r * ys);
            }
            if (!pass) fprintf(f, "%.1f,%.1f", L + v->t[v->nsamples - 1] * xs, H - B);
            fputs("\"/>\n", f);
        }
    }
    fputs("</svg>\n", f);
}

/* A live page older than a minute (and 20 refreshes) was the last its run wrote: the run
 * ended without a word (the full report replaces the page otherwise). Say so, stop
 * reloading; else reload after the refresh interval. */
static const char LIVE_SCRIPT[] =
    "<script>(function(){var b=document.body,w=+b.dataset.written,r=+b.dataset.refresh,"
    "age=Date.now()-w;"
    "if(w>0&&age>Math.max(60000,20000*r)){var s=document.getElementById('stale');"
    "s.textContent='Not updated since '+new Date(w).toLocaleString()+' ('+Math.round(age/60000)"
    "+' min ago): the run ended without writing its report (killed, or its node lost). This "
    "page no longer reloads; the manifest.txt of its output directory says what was saved.';"
    "s.hidden=false;var l=document.querySelector('.live');if(l){l.textContent='NOT "
    "UPDATED';l.className+=' off';}}"
    "else setTimeout(function(){location.reload()},r*1000);})();</script>\n";

int dusk__trace_write_live(const char *path, const dusk__live_view *v)
{
    if (path == NULL || v == NULL || v->total < 0 || v->nsamples < 0) return DUSK_EINVAL;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) return DUSK_EIO;
    const char *plural = v->plural ? v->plural : "items";
    int64_t count = v->before + v->done + v->failed, ran = v->done + v->failed;
    double frac = v->total > 0 ? (double)count / (double)v->total : 1;
    double rate = v->seconds > 0 ? (double)ran / v->seconds : 0;
    char c1[32], c2[32], val[64], lab[96], date[64] = "", updated[32] = "";
    time_t start = (time_t)v->epoch, now = (time_t)(v->epoch + v->seconds);
    struct tm tm;
    if (v->epoch > 0 && localtime_r(&start, &tm) != NULL)
        strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %z", &tm);
    if (v->epoch > 0 && localtime_r(&now, &tm) != NULL)
        strftime(updated, sizeof updated, "%H:%M:%S", &tm);

    /* The refresh comes first: a browser acts on it however the rest loads. Without
     * JavaScript alone: with it, the script at the end reloads the page only while it is
     * fresh, so that the last page of a run killed without a word (SIGKILL, a node lost)
     * says so rather than reload for ever. */
    fprintf(f,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<noscript><meta http-equiv=\"refresh\" content=\"%d\"></noscript>\n"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>",
            v->refresh > 0 ? v->refresh : 5);
    if (v->program) {
        html(f, v->program);
        fputs(" · ", f);
    }
    fprintf(f,
            "live · dusk trace report</title>\n<style>%s%s</style></head>\n"
            "<body data-written=\"%lld\" data-refresh=\"%d\">\n<header><h1>",
            CSS, LIVE_CSS, (long long)((v->epoch + v->seconds) * 1000),
            v->refresh > 0 ? v->refresh : 5);
    html(f, v->program ? v->program : "dusk");
    fputs("<span class=\"live\"><i></i>RUNNING</span></h1>\n<div class=\"meta\">dusk live "
          "report · ",
          f);
    if (*date) fprintf(f, "started %s · ", date);
    fprintf(f, "%d rank%s", v->nranks, v->nranks == 1 ? "" : "s");
    if (*updated) fprintf(f, " · updated %s", updated);
    fputs("</div>\n", f);
    if (v->params && *v->params) {
        fputs("<div class=\"params\">", f);
        html(f, v->params);
        fputs("</div>", f);
    }
    fputs("</header>\n<main>\n<p id=\"stale\" class=\"stale\" hidden></p>\n", f);
    if (!v->whole && v->nranks > 1)
        fprintf(f,
                "<p class=\"note\">The counts are rank 0's share of the job (one of %d ranks), "
                "a fair sample of the whole.</p>\n",
                v->nranks);

    /* how far: the percentage, and a bar of done before, done now and failed */
    fprintf(f, "<section><div><span class=\"pct\">%d%%</span><span class=\"sub\">",
            (int)(frac * 100));
    fprintf(f, "%lld of %lld %s", (long long)count, (long long)v->total, plural);
    if (v->before) fprintf(f, " (%lld done before this run)", (long long)v->before);
    fputs("</span></div>\n<div class=\"progress\">", f);
    double scale = v->total > 0 ? 100.0 / (double)v->total : 0;
    if (v->before) fprintf(f, "<div class=\"b\" style=\"width:%.2f%%\"></div>", v->before * scale);
    fprintf(f, "<div class=\"d\" style=\"width:%.2f%%\"></div>", v->done * scale);
    if (v->failed) fprintf(f, "<div class=\"f\" style=\"width:%.2f%%\"></div>", v->failed * scale);
    fputs("</div>\n<div class=\"cards\">\n", f);
    snprintf(val, sizeof val, "%lld", (long long)count);
    snprintf(lab, sizeof lab, "%s done of %lld", plural, (long long)v->total);
    card(f, lab, val, 0);
    snprintf(val, sizeof val, "%lld", (long long)v->failed);
    card(f, "failed so far", val, v->failed > 0);
    snprintf(val, sizeof val, "%.2f /s", rate);
    card(f, "rate", val, 0);
    card(f, "elapsed", clock_str(c1, sizeof c1, v->seconds), 0);
    card(f, "time left",
         clock_str(c2, sizeof c2, rate > 0 ? (double)(v->total - count) / rate : -1), 0);
    fputs("</div></section>\n", f);

    fprintf(f, "<section><h2>Rate over time (%s per second)</h2>\n", plural);
    rate_chart(f, v);
    fputs("</section>\n", f);
    fprintf(f,
            "<section><h2>About this page</h2><p>It is rewritten every %d s while the run goes "
            "on, and reloads itself. When the run ends, the full report replaces it: the "
            "tasks per worker, the worker utilisation, the codelets, the critical path and "
            "the failed tasks.%s</p></section>\n",
            v->refresh > 0 ? v->refresh : 5,
            v->failed ? " The failures' reasons are in the output directory's failures.json "
                        "at the end."
                      : "");
    fprintf(f, "</main>\n<footer>dusk %s · live report</footer>\n%s</body></html>\n",
            DUSK_VERSION_STRING, LIVE_SCRIPT);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        (void)remove(tmp);
        return DUSK_EIO;
    }
    return 0;
}
