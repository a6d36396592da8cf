/*
 * Human output helpers: sizes, durations and a one-line progress bar that
 * redraws itself with '\r' on a terminal.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"

void
fmt_bytes(uint64_t n, char *out, size_t cap)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	unsigned u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, cap, "%llu B", (unsigned long long)n);
	else
		snprintf(out, cap, "%.1f %s", v, units[u]);
}

void
fmt_duration(double s, char *out, size_t cap)
{
	unsigned long t;

	if (!(s >= 0) || s > 360000) {
		snprintf(out, cap, "--:--");
		return;
	}
	t = (unsigned long)(s + 0.5);
	if (t >= 3600)
		snprintf(
		    out, cap, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, cap, "%lu:%02lu", t / 60, t % 60);
}

static int
progress_width(FILE *f)
{
	struct winsize ws;

	if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		return ws.ws_col;
	return 80;
}

void
progress_draw(FILE *f, const char *name, uint64_t bytes, uint64_t size,
    int size_known, double rate, unsigned active, unsigned sources,
    const char *state)
{
	char done[32], total[32], speed[32], eta[32], line[512], bar[256];
	int width = progress_width(f), barw, fill, pct;

	fmt_bytes(bytes, done, sizeof(done));
	fmt_bytes(size, total, sizeof(total));
	fmt_bytes((uint64_t)rate, speed, sizeof(speed));
	fmt_duration(
	    rate > 0 && size > bytes ? (double)(size - bytes) / rate : -1, eta,
	    sizeof(eta));
	pct = size > 0 ? (int)(100.0 * (double)bytes / (double)size) : 0;
	if (pct > 100)
		pct = 100;
	barw = width - 62;
	if (barw < 10)
		barw = 10;
	if (barw > (int)sizeof(bar) - 1)
		barw = (int)sizeof(bar) - 1;
	fill = barw * pct / 100;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(barw - fill));
	bar[barw] = '\0';
	snprintf(line, sizeof(line),
	    "%-14.14s [%s] %3d%% %9s/%s%s %9s/s ETA %s %u/%u src %s", name, bar,
	    pct, done, size_known ? "" : "~", total, speed, eta, active,
	    sources, state);
	fprintf(f, "\r%-*.*s", width - 1, width - 1, line);
	fflush(f);
}

void
progress_end(FILE *f)
{
	fputc('\n', f);
	fflush(f);
}
