/*
 * dirload: a load generator for `warren directory`, speaking the course
 * directory protocol (course.md §5) through the wire codec. Used by
 * bench/directory.py (`bench/run --only directory`); see docs/benchmarks.md.
 *
 *   dirload load   --connect ADDR:PORT [--sessions N] [--files F]
 *                  [--clients C] [--seed S] [--timeout SECONDS]
 *   dirload search --connect ADDR:PORT [--sessions N] [--files F]
 *                  [--clients C] [--seconds T] [--seed S]
 *                  [--terms-out FILE] [--timeout SECONDS]
 *
 * load:   LOGI of N sessions (distinct IPP2P/PP2P), then ADDF of F files
 *         spread over them (file i belongs to session i mod N; its md5
 *         encodes i, its name is a pure function of seed and i).
 * search: LOGI of the first C sessions again (the directory gives their
 *         SessionIDs back), then FIND from C concurrent clients for T
 *         seconds; terms of 3-10 characters from the names' vocabulary,
 *         in three classes (selective, medium, broad) taken in turn.
 *         Every AFIN is parsed by its counts and checked: each entry's md5
 *         is one that was published, its name is the one generated for it
 *         and contains the term, its only copy is its session's address.
 *
 * One request per connection, at most C connections open. Latency is
 * connect start -> complete reply parsed. Results go to stdout as lines
 * "record key=value ..."; progress and the first errors of each kind to
 * stderr. Exit status 0, 1 if any request failed or a reply was wrong,
 * 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include <uv.h>

#include "core/addr.h"
#include "warren/error.h"
#include "wire/course.h"

/* ------------------------------------------------------------ helpers */

static void *
dl_alloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL) {
		fprintf(stderr, "dirload: out of memory\n");
		exit(1);
	}
	return p;
}

static void *
dl_realloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "dirload: out of memory\n");
		exit(1);
	}
	return p;
}

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* splitmix64 */
static uint64_t
rnd(uint64_t *st)
{
	*st += 0x9e3779b97f4a7c15ULL;
	return mix64(*st);
}

static unsigned
rnd_below(uint64_t *st, unsigned n)
{
	return (unsigned)(rnd(st) % n);
}

static double
rnd_unit(uint64_t *st)
{
	return (double)(rnd(st) >> 11) / 9007199254740992.0;
}

/* Latencies in microseconds. */
struct lat {
	uint32_t *v;
	size_t n, cap;
};

static void
lat_add(struct lat *l, uint64_t ns)
{
	uint64_t us = ns / 1000;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 4096;
		l->v = dl_realloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile in ms (sorts l). */
static double
lat_pct(struct lat *l, double p)
{
	size_t k;

	if (l->n == 0)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), cmp_u32);
	k = (size_t)ceil(p / 100.0 * (double)l->n);
	if (k < 1)
		k = 1;
	if (k > l->n)
		k = l->n;
	return l->v[k - 1] / 1000.0;
}

static void
lat_print(struct lat *l)
{
	printf(" p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f",
	    lat_pct(l, 50), lat_pct(l, 90), lat_pct(l, 99), lat_pct(l, 100));
}

/* ------------------------------------------------------------ names */

/* Common words first: with the Zipf draw below, rank 0 is the most
 * frequent word in names. */
static const char *const common_words[] = {"the", "love", "live", "night",
    "remix", "best", "official", "music", "dance", "summer", "world", "heart",
    "dream", "time", "life", "baby", "party", "feat", "video", "movie",
    "trailer", "album", "greatest", "hits", "mix", "edit", "radio", "version",
    "acoustic", "original", "deluxe", "remastered", "collection", "vol", "part",
    "chapter", "guide", "manual", "report", "notes", "lecture", "intro",
    "final", "draft", "backup", "photo", "holiday", "wedding", "family",
    "beach", "city", "mountain", "river", "road", "star", "fire", "water",
    "light", "dark", "blue", "red", "black", "white", "gold", "silver", "green",
    "king", "queen", "new", "old", "little", "big", "last", "first", "home",
    "sweet", "wild", "free", "lost", "hello", "goodbye", "forever", "tonight",
    "morning", "rain", "snow", "sun", "moon", "sky", "ocean", "dragon", "ghost",
    "shadow", "secret", "story", "legend", "hero", "magic", "power", "game",
    "war", "peace", "street", "club", "house", "techno", "jazz", "blues",
    "rock", "metal", "punk", "soul", "funk", "disco", "classic", "piano",
    "guitar", "drum", "bass", "symphony", "concerto", "sonata", "opera",
    "choir"};
#define NCOMMON  (sizeof(common_words) / sizeof(common_words[0]))
#define NGEN     20000 /* made-up words after the common ones */
#define WORD_MAX 10

static const char *const onsets[] = {"b", "br", "c", "ch", "d", "dr", "f", "fl",
    "g", "gr", "h", "j", "k", "l", "m", "n", "p", "pr", "qu", "r", "s", "sh",
    "st", "t", "tr", "v", "w", "z", "bl", "sk"};
static const char *const nuclei[] = {
    "a", "e", "i", "o", "u", "ai", "ea", "oo", "ou", "y", "ie"};
static const char *const codas[] = {
    "", "", "", "n", "r", "s", "l", "m", "nd", "st", "x", "ck", "rt"};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct gen {
	uint64_t seed;
	unsigned nwords;
	char (*words)[WORD_MAX + 1];
	double *cdf;   /* Zipf, s = 1 */
	uint64_t mask; /* md5 low half = file index ^ mask */
};

static uint32_t
hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static void
gen_init(struct gen *g, uint64_t seed)
{
	uint64_t st = mix64(seed ^ 0x5eed);
	size_t tcap = 1 << 16, i;
	uint32_t *table = calloc(tcap, sizeof(*table)); /* word index + 1 */
	double sum = 0;

	if (table == NULL) {
		fprintf(stderr, "dirload: out of memory\n");
		exit(1);
	}
	g->seed = seed;
	g->mask = mix64(seed ^ 0xfeed);
	g->nwords = (unsigned)(NCOMMON + NGEN);
	g->words = dl_alloc(g->nwords * sizeof(*g->words));
	for (i = 0; i < g->nwords;) {
		char w[64];
		uint32_t h;

		if (i < NCOMMON) {
			snprintf(w, sizeof(w), "%s", common_words[i]);
		} else {
			unsigned syl = 2 + rnd_below(&st, 2), k;

			w[0] = '\0';
			for (k = 0; k < syl; k++) {
				strcat(
				    w, onsets[rnd_below(&st, NELEM(onsets))]);
				strcat(
				    w, nuclei[rnd_below(&st, NELEM(nuclei))]);
				if (k == syl - 1 || rnd_below(&st, 3) == 0)
					strcat(w,
					    codas[rnd_below(
						&st, NELEM(codas))]);
			}
			if (strlen(w) < 4 || strlen(w) > WORD_MAX)
				continue;
		}
		/* distinct words only */
		for (h = hash_str(w) & (tcap - 1); table[h] != 0;
		     h = (h + 1) & (tcap - 1))
			if (strcmp(g->words[table[h] - 1], w) == 0)
				break;
		if (table[h] != 0)
			continue;
		table[h] = (uint32_t)i + 1;
		memcpy(g->words[i], w, strlen(w) + 1);
		i++;
	}
	free(table);
	g->cdf = dl_alloc(g->nwords * sizeof(*g->cdf));
	for (i = 0; i < g->nwords; i++) {
		sum += 1.0 / (double)(i + 1);
		g->cdf[i] = sum;
	}
	for (i = 0; i < g->nwords; i++)
		g->cdf[i] /= sum;
}

static const char *
gen_word(const struct gen *g, uint64_t *st)
{
	double u = rnd_unit(st);
	unsigned lo = 0, hi = g->nwords - 1;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (g->cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return g->words[lo];
}

struct sbuf {
	char *p;
	size_t n, cap;
};

static void
sb_put(struct sbuf *b, const char *s, size_t len)
{
	if (b->n + len >= b->cap)
		len = b->cap - 1 - b->n;
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* A word, capitalised (1), upper case (2) or as is (0). */
static void
sb_word(struct sbuf *b, const char *w, int style)
{
	char tmp[WORD_MAX + 1];
	size_t n = strlen(w), i;

	memcpy(tmp, w, n + 1);
	for (i = 0; i < n; i++)
		if ((style == 1 && i == 0) || style == 2)
			if (tmp[i] >= 'a' && tmp[i] <= 'z')
				tmp[i] = (char)(tmp[i] - 'a' + 'A');
	sb_put(b, tmp, n);
}

/* v in decimal, zero-padded to width digits. */
static void
sb_num(struct sbuf *b, unsigned v, int width)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%0*u", width, v);

	if (n > 0)
		sb_put(b, tmp, (size_t)n);
}

static const char *
pick(uint64_t *st, const char *const *v, size_t n)
{
	return v[rnd_below(st, (unsigned)n)];
}

static const char *const ext_audio[] = {
    "mp3", "mp3", "mp3", "mp3", "mp3", "mp3", "flac", "flac", "ogg", "m4a"};
static const char *const ext_video[] = {
    "mkv", "mkv", "mkv", "avi", "avi", "mp4", "mp4", "mp4"};
static const char *const ext_doc[] = {
    "pdf", "pdf", "pdf", "pdf", "epub", "docx", "txt", "odt"};
static const char *const ext_photo[] = {
    "jpg", "jpg", "jpg", "jpg", "png", "gif"};
static const char *const ext_arch[] = {
    "zip", "zip", "zip", "iso", "tar.gz", "exe", "rar"};
static const char *const resolutions[] = {"720p", "1080p", "480p", "2160p"};

/*
 * The name of file i: words from the vocabulary (Zipf), numbers and an
 * extension, in the shape of a music, video, document, photo or archive
 * name. A pure function of (seed, i). Returns its length (<= 100).
 */
static size_t
gen_name(const struct gen *g, uint64_t i, char out[COURSE_NAME_LEN + 1])
{
	uint64_t st = mix64(g->seed * 0x9e3779b97f4a7c15ULL ^ i);
	struct sbuf b = {out, 0, COURSE_NAME_LEN + 1};
	unsigned t = rnd_below(&st, 100), k, n;

	out[0] = '\0';
	if (t < 40) { /* Artist Name - Song Title (1987).mp3 */
		if (rnd_below(&st, 4) == 0) {
			sb_num(&b, 1 + rnd_below(&st, 20), 2);
			sb_str(&b, " ");
		}
		n = 1 + rnd_below(&st, 2);
		for (k = 0; k < n; k++) {
			if (k)
				sb_str(&b, " ");
			sb_word(&b, gen_word(g, &st), 1);
		}
		sb_str(&b, " - ");
		n = 1 + rnd_below(&st, 4);
		for (k = 0; k < n; k++) {
			if (k)
				sb_str(&b, " ");
			sb_word(&b, gen_word(g, &st), 1);
		}
		if (rnd_below(&st, 3) == 0) {
			sb_str(&b, " (");
			sb_num(&b, 1960 + rnd_below(&st, 65), 0);
			sb_str(&b, ")");
		}
		sb_str(&b, ".");
		sb_str(&b, pick(&st, ext_audio, NELEM(ext_audio)));
	} else if (t < 65) { /* Word.Word.S02E11.720p.mkv, Word.Word.2011... */
		n = 1 + rnd_below(&st, 3);
		for (k = 0; k < n; k++) {
			sb_word(&b, gen_word(g, &st), 1);
			sb_str(&b, ".");
		}
		if (rnd_below(&st, 2) == 0) {
			sb_str(&b, "S");
			sb_num(&b, 1 + rnd_below(&st, 8), 2);
			sb_str(&b, "E");
			sb_num(&b, 1 + rnd_below(&st, 22), 2);
		} else {
			sb_num(&b, 1960 + rnd_below(&st, 65), 0);
		}
		sb_str(&b, ".");
		sb_str(&b, pick(&st, resolutions, NELEM(resolutions)));
		sb_str(&b, ".");
		sb_str(&b, pick(&st, ext_video, NELEM(ext_video)));
	} else if (t < 80) { /* word_word_word_2019.pdf */
		n = 2 + rnd_below(&st, 3);
		for (k = 0; k < n; k++) {
			sb_word(&b, gen_word(g, &st), 0);
			sb_str(&b, "_");
		}
		sb_num(&b, 1990 + rnd_below(&st, 35), 0);
		sb_str(&b, ".");
		sb_str(&b, pick(&st, ext_doc, NELEM(ext_doc)));
	} else if (t < 90) { /* IMG_1234 Word Word.jpg */
		sb_str(&b, "IMG_");
		sb_num(&b, rnd_below(&st, 10000), 4);
		n = rnd_below(&st, 3);
		for (k = 0; k < n; k++) {
			sb_str(&b, " ");
			sb_word(&b, gen_word(g, &st), rnd_below(&st, 2));
		}
		sb_str(&b, ".");
		sb_str(&b, pick(&st, ext_photo, NELEM(ext_photo)));
	} else { /* word-word-1.4.2.zip */
		n = 1 + rnd_below(&st, 2);
		for (k = 0; k < n; k++) {
			sb_word(&b, gen_word(g, &st), 0);
			sb_str(&b, "-");
		}
		for (k = 0; k < 3; k++) {
			sb_num(&b, rnd_below(&st, k == 1 ? 20 : 10), 0);
			sb_str(&b, ".");
		}
		sb_str(&b, pick(&st, ext_arch, NELEM(ext_arch)));
	}
	return b.n;
}

static void
hex16_lower(uint64_t v, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (int k = 15; k >= 0; k--) {
		out[k] = hex[v & 15];
		v >>= 4;
	}
}

/* md5 of file i: 16 hex digits of noise, 16 of i ^ mask. */
static void
gen_md5(const struct gen *g, uint64_t i, char out[COURSE_MD5_LEN + 1])
{
	hex16_lower(mix64(g->seed + i * 0x9e3779b97f4a7c15ULL), out);
	hex16_lower(i ^ g->mask, out + 16);
	out[COURSE_MD5_LEN] = '\0';
}

/* The file index an md5 stands for, or UINT64_MAX if none. */
static uint64_t
md5_file(const struct gen *g, const char *md5, uint64_t nfiles)
{
	char again[COURSE_MD5_LEN + 1];
	uint64_t v = 0;

	for (int k = 16; k < 32; k++) {
		char c = md5[k];

		v = v << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	v ^= g->mask;
	if (v >= nfiles)
		return UINT64_MAX;
	gen_md5(g, v, again);
	return memcmp(again, md5, COURSE_MD5_LEN) == 0 ? v : UINT64_MAX;
}

/* Session s: 127.210.(s / 50000).1, port 10000 + s % 50000. */
static void
session_peer(uint64_t s, struct course_peer *p)
{
	memset(p, 0, sizeof(*p));
	p->v4[0] = 127;
	p->v4[1] = 210;
	p->v4[2] = (uint8_t)(s / 50000);
	p->v4[3] = 1;
	p->v6[10] = p->v6[11] = 0xff;
	memcpy(p->v6 + 12, p->v4, 4);
	p->port = (uint16_t)(10000 + s % 50000);
}

/* ------------------------------------------------------------ terms */

enum { CLS_SELECTIVE, CLS_MEDIUM, CLS_BROAD, NCLS };
static const char *const cls_name[NCLS] = {"selective", "medium", "broad"};

struct term {
	char s[COURSE_TERM_LEN + 1];
	int cls;
	long entries; /* md5 entries in its first AFIN; -1 before */
	uint64_t searches;
};

struct terms {
	struct term *v;
	size_t n, cap;
	size_t first[NCLS], count[NCLS];
};

static void
terms_add(struct terms *t, const char *s, int cls, uint64_t *st)
{
	char tmp[COURSE_TERM_LEN + 1];
	size_t len = strlen(s), i;

	if (len < 3 || len > 10)
		return;
	memcpy(tmp, s, len + 1);
	/* Case must not matter (§4): some terms in another case. */
	switch (rnd_below(st, 4)) {
	case 0:
		if (tmp[0] >= 'a' && tmp[0] <= 'z')
			tmp[0] = (char)(tmp[0] - 'a' + 'A');
		break;
	case 1:
		for (i = 0; i < len; i++)
			if (tmp[i] >= 'a' && tmp[i] <= 'z')
				tmp[i] = (char)(tmp[i] - 'a' + 'A');
		break;
	default:
		break;
	}
	for (i = 0; i < t->n; i++)
		if (strcasecmp(t->v[i].s, tmp) == 0)
			return;
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->v = dl_realloc(t->v, t->cap * sizeof(*t->v));
	}
	memset(&t->v[t->n], 0, sizeof(t->v[t->n]));
	memcpy(t->v[t->n].s, tmp, len + 1);
	t->v[t->n].cls = cls;
	t->v[t->n].entries = -1;
	t->n++;
	t->count[cls]++;
}

/*
 * Terms by class, stored class after class:
 *  - broad: extensions, resolutions, season/year prefixes, the most
 *    common words and their first three letters (thousands to hundreds of
 *    thousands of names each);
 *  - medium: whole words of rank 20..600 (hundreds to a few thousand);
 *  - selective: whole made-up words of rank >= 8000, 6-10 letters (a few
 *    to a few dozen names).
 */
static void
terms_make(struct terms *t, const struct gen *g, unsigned per_class)
{
	static const char *const broad[] = {"mp3", "mkv", "avi", "mp4", "pdf",
	    "jpg", "zip", "flac", "720p", "1080p", "IMG_", "S01", "E05", "199",
	    "200", "201"};
	uint64_t st = mix64(g->seed ^ 0x7e57);
	unsigned tries;
	size_t k;

	memset(t, 0, sizeof(*t));
	t->first[CLS_SELECTIVE] = 0;
	for (tries = 0; t->count[CLS_SELECTIVE] < per_class && tries < 100000;
	     tries++) {
		const char *w =
		    g->words[8000 + rnd_below(&st, g->nwords - 8000)];

		if (strlen(w) >= 6)
			terms_add(t, w, CLS_SELECTIVE, &st);
	}
	t->first[CLS_MEDIUM] = t->n;
	for (tries = 0; t->count[CLS_MEDIUM] < per_class && tries < 100000;
	     tries++)
		terms_add(
		    t, g->words[20 + rnd_below(&st, 580)], CLS_MEDIUM, &st);
	t->first[CLS_BROAD] = t->n;
	for (k = 0; k < NELEM(broad); k++)
		terms_add(t, broad[k], CLS_BROAD, &st);
	for (k = 0; k < 12 && t->count[CLS_BROAD] < per_class; k++) {
		char pre[4];

		terms_add(t, g->words[k], CLS_BROAD, &st);
		memcpy(pre, g->words[k], 3);
		pre[3] = '\0';
		terms_add(t, pre, CLS_BROAD, &st);
	}
}

/* ------------------------------------------------------------ load engine */

enum phase { PH_LOGIN, PH_ADDF, PH_FIND };
#define MAX_ERRORS 100 /* a phase stops starting requests after these */
static const char *const phase_name[] = {"logins", "addf", "search"};

enum err {
	E_CONNECT,
	E_REFUSED, /* an error sentence, or a refused login */
	E_CLOSED,  /* EOF before the whole reply */
	E_TIMEOUT,
	E_PROTO, /* a reply that does not parse */
	E_WRONG, /* parses, but says something else than it should */
	NERR
};
static const char *const err_name[NERR] = {
    "connect", "refused", "closed", "timeout", "proto", "wrong"};

struct load;

struct slot {
	struct load *L;
	unsigned idx;
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	uv_timer_t timer;
	int active;   /* a request is in progress */
	int finished; /* its outcome is known; closing */
	uint64_t t0;
	uint64_t job; /* session, file or term index */
	char out[COURSE_MSG_MAX];
	size_t outlen;
	uint8_t *in;
	size_t inlen, incap, off;
	struct course_afin afin;
	uint64_t cur_file; /* file of the AFIN entry being read */
};

struct load {
	uv_loop_t *loop;
	struct sockaddr_storage dst;
	struct gen g;
	uint64_t nsessions, nfiles, seconds;
	unsigned nclients;
	uint64_t timeout_ms;
	char (*sid)[COURSE_SESSION_LEN]; /* per session */
	unsigned char *have_sid;
	struct slot *slots;
	struct terms terms;

	enum phase phase;
	uint64_t next, end; /* jobs [next, end) left */
	uint64_t deadline;  /* search: no new FIND after this (hrtime) */
	unsigned busy;      /* slots with a request */
	uint64_t t_start, t_last;
	uint64_t ok, errs[NERR], errs_total;
	unsigned logged[NERR];
	struct lat lat, cls_lat[NCLS];
	uint64_t cls_ok[NCLS];
	uint64_t afin_entries, afin_copies;
	unsigned gave_up;
	unsigned rr; /* next class */
	uint64_t st; /* term draws */
	uv_timer_t progress;
	uint64_t progress_last_ok, progress_last_t;
};

static void slot_next(struct slot *s);

static void
slot_closed(uv_handle_t *h)
{
	struct slot *s = h->data;

	s->active = 0;
	s->L->busy--;
	slot_next(s);
}

/* The request's outcome: err < 0 for success, else an enum err. */
static void
slot_finish(struct slot *s, int err, const char *detail)
{
	struct load *L = s->L;
	uint64_t now = uv_hrtime();

	if (s->finished)
		return;
	s->finished = 1;
	uv_timer_stop(&s->timer);
	if (err < 0) {
		L->ok++;
		lat_add(&L->lat, now - s->t0);
		if (L->phase == PH_FIND) {
			struct term *t = &L->terms.v[s->job];

			lat_add(&L->cls_lat[t->cls], now - s->t0);
			L->cls_ok[t->cls]++;
			t->searches++;
		}
	} else {
		L->errs[err]++;
		L->errs_total++;
		if (L->logged[err]++ < 3)
			fprintf(stderr, "dirload: %s #%llu: %s: %s\n",
			    phase_name[L->phase], (unsigned long long)s->job,
			    err_name[err], detail ? detail : "");
	}
	L->t_last = now;
	uv_close((uv_handle_t *)&s->tcp, slot_closed);
}

static void
slot_timeout(uv_timer_t *t)
{
	slot_finish(t->data, E_TIMEOUT, "no complete reply in time");
}

/* An error sentence, for the log: printable part of what came. */
static const char *
slot_sentence(struct slot *s)
{
	static char buf[128];
	size_t n = s->inlen < sizeof(buf) - 1 ? s->inlen : sizeof(buf) - 1;

	for (size_t i = 0; i < n; i++)
		buf[i] = (s->in[i] >= 0x20 && s->in[i] < 0x7f) ? (char)s->in[i]
							       : '?';
	buf[n] = '\0';
	return buf;
}

/* Check one AFIN item against what was published. */
static void
afin_item(struct slot *s, const struct course_afin_item *it)
{
	struct load *L = s->L;
	struct term *t = &L->terms.v[s->job];
	static char why[512];

	switch (it->type) {
	case COURSE_AFIN_COUNT:
		if (t->entries >= 0 && t->entries != (long)it->count) {
			snprintf(why, sizeof(why),
			    "term '%s': %u entries, %ld before", t->s,
			    it->count, t->entries);
			slot_finish(s, E_WRONG, why);
		}
		t->entries = it->count;
		L->afin_entries += it->count;
		return;
	case COURSE_AFIN_ENTRY: {
		char name[COURSE_NAME_LEN + 1];
		struct course_str term = {t->s, strlen(t->s)};
		uint64_t f = md5_file(&L->g, it->md5, L->nfiles);
		size_t len;

		if (f == UINT64_MAX) {
			snprintf(why, sizeof(why), "term '%s': unknown md5 %s",
			    t->s, it->md5);
			slot_finish(s, E_WRONG, why);
			return;
		}
		len = gen_name(&L->g, f, name);
		if (len != it->name.len ||
		    memcmp(name, it->name.ptr, len) != 0 ||
		    !course_term_match(term, it->name.ptr, it->name.len) ||
		    it->count != 1) {
			snprintf(why, sizeof(why),
			    "term '%s': entry %s '%.*s' x%u (published '%s')",
			    t->s, it->md5, (int)it->name.len, it->name.ptr,
			    it->count, name);
			slot_finish(s, E_WRONG, why);
			return;
		}
		s->cur_file = f; /* its copy must be at its session */
		return;
	}
	case COURSE_AFIN_COPY: {
		struct course_peer want;

		session_peer(s->cur_file % L->nsessions, &want);
		L->afin_copies++;
		if (!it->valid || !course_peer_equal(&want, &it->peer)) {
			snprintf(why, sizeof(why),
			    "term '%s': copy of file %llu not at its session",
			    t->s, (unsigned long long)s->cur_file);
			slot_finish(s, E_WRONG, why);
		}
		return;
	}
	}
}

static void
slot_parse(struct slot *s)
{
	struct load *L = s->L;
	struct course_msg m;
	int r;

	if (L->phase == PH_LOGIN) {
		r = course_decode_reply(COURSE_ALGI, s->in, s->inlen, &m);
		if (r == 0)
			return;
		if (r < 0) {
			slot_finish(s,
			    r == WARREN_EREFUSED ? E_REFUSED : E_PROTO,
			    slot_sentence(s));
			return;
		}
		if (course_session_is_null(m.session)) {
			slot_finish(s, E_REFUSED, "login refused (null id)");
			return;
		}
		memcpy(L->sid[s->job], m.session, COURSE_SESSION_LEN);
		L->have_sid[s->job] = 1;
		slot_finish(s, -1, NULL);
		return;
	}
	if (L->phase == PH_ADDF) {
		r = course_decode_reply(COURSE_AADD, s->in, s->inlen, &m);
		if (r == 0)
			return;
		if (r < 0) {
			slot_finish(s,
			    r == WARREN_EREFUSED ? E_REFUSED : E_PROTO,
			    slot_sentence(s));
			return;
		}
		slot_finish(s, m.count == 1 ? -1 : E_WRONG,
		    m.count == 1 ? NULL : "AADD #copy is not 1");
		return;
	}
	/* FIND: item by item, by the counts. */
	while (!s->finished) {
		struct course_afin_item it;

		r = course_afin_next(
		    &s->afin, s->in + s->off, s->inlen - s->off, &it);
		if (r == 0)
			return;
		if (r < 0) {
			slot_finish(s,
			    r == WARREN_EREFUSED ? E_REFUSED : E_PROTO,
			    slot_sentence(s));
			return;
		}
		s->off += (size_t)r;
		afin_item(s, &it);
		if (!s->finished && course_afin_done(&s->afin))
			slot_finish(s, -1, NULL);
	}
}

static void
slot_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct slot *s = h->data;

	(void)hint;
	if (s->incap - s->inlen < 16384) {
		s->incap = s->incap ? 2 * s->incap : 32768;
		s->in = dl_realloc(s->in, s->incap);
	}
	buf->base = (char *)s->in + s->inlen;
	buf->len = s->incap - s->inlen;
}

static void
slot_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct slot *s = st->data;

	(void)buf;
	if (s->finished)
		return;
	if (n == UV_EOF) {
		slot_finish(s, s->inlen ? E_CLOSED : E_REFUSED,
		    s->inlen ? "EOF inside the reply" : "closed, no reply");
		return;
	}
	if (n < 0) {
		slot_finish(s, E_CLOSED, uv_strerror((int)n));
		return;
	}
	s->inlen += (size_t)n;
	slot_parse(s);
}

static void
slot_written(uv_write_t *w, int status)
{
	struct slot *s = w->data;

	if (status < 0 && !s->finished)
		slot_finish(s, E_CLOSED, uv_strerror(status));
}

static void
slot_connected(uv_connect_t *c, int status)
{
	struct slot *s = c->data;
	uv_buf_t b;
	int err;

	if (s->finished)
		return;
	if (status < 0) {
		slot_finish(s, E_CONNECT, uv_strerror(status));
		return;
	}
	/* One message, one write (course.md §2.2). */
	b = uv_buf_init(s->out, (unsigned)s->outlen);
	s->wreq.data = s;
	if ((err = uv_write(
		 &s->wreq, (uv_stream_t *)&s->tcp, &b, 1, slot_written)) != 0 ||
	    (err = uv_read_start(
		 (uv_stream_t *)&s->tcp, slot_alloc, slot_read)) != 0)
		slot_finish(s, E_CONNECT, uv_strerror(err));
}

/* The next job of the phase into s->out; 0, or -1 when there is none. */
static int
slot_job(struct slot *s)
{
	struct load *L = s->L;
	struct course_msg m;
	char md5[COURSE_MD5_LEN + 1], name[COURSE_NAME_LEN + 1];
	int len;

	memset(&m, 0, sizeof(m));
	if (L->errs_total >= MAX_ERRORS) {
		if (!L->gave_up++)
			fprintf(stderr, "dirload: %s: %d errors, giving up\n",
			    phase_name[L->phase], MAX_ERRORS);
		return -1;
	}
	switch (L->phase) {
	case PH_LOGIN:
		if (L->next >= L->end)
			return -1;
		s->job = L->next++;
		m.kind = COURSE_LOGI;
		session_peer(s->job, &m.peer);
		break;
	case PH_ADDF: {
		uint64_t sess;

		for (;;) {
			if (L->next >= L->end)
				return -1;
			s->job = L->next++;
			sess = s->job % L->nsessions;
			if (L->have_sid[sess])
				break;
			L->errs[E_REFUSED]++; /* its session did not log in */
			L->errs_total++;
		}
		gen_md5(&L->g, s->job, md5);
		m.kind = COURSE_ADDF;
		memcpy(m.session, L->sid[sess], COURSE_SESSION_LEN);
		memcpy(m.md5, md5, sizeof(m.md5));
		m.name.ptr = name;
		m.name.len = gen_name(&L->g, s->job, name);
		break;
	}
	case PH_FIND: {
		unsigned c;
		uint64_t sess = s->idx % L->nsessions;

		if (uv_hrtime() >= L->deadline || !L->have_sid[sess])
			return -1;
		/* classes in turn, a random term of the class */
		do
			c = L->rr++ % NCLS;
		while (L->terms.count[c] == 0);
		s->job = L->terms.first[c] +
		    rnd_below(&L->st, (unsigned)L->terms.count[c]);
		m.kind = COURSE_FIND;
		memcpy(m.session, L->sid[sess], COURSE_SESSION_LEN);
		m.term.ptr = L->terms.v[s->job].s;
		m.term.len = strlen(L->terms.v[s->job].s);
		break;
	}
	}
	len = course_encode(&m, s->out, sizeof(s->out));
	if (len <= 0) {
		fprintf(stderr, "dirload: cannot encode %s #%llu: %s\n",
		    phase_name[L->phase], (unsigned long long)s->job,
		    warren_strerror(len));
		exit(1);
	}
	s->outlen = (size_t)len;
	return 0;
}

static void
slot_next(struct slot *s)
{
	struct load *L = s->L;
	int err;

	if (slot_job(s) != 0) {
		if (L->busy == 0)
			uv_timer_stop(&L->progress);
		return;
	}
	s->active = 1;
	s->finished = 0;
	s->inlen = s->off = 0;
	s->cur_file = 0;
	course_afin_init(&s->afin);
	L->busy++;
	s->t0 = uv_hrtime();
	uv_tcp_init(L->loop, &s->tcp);
	s->tcp.data = s;
	s->creq.data = s;
	uv_timer_start(&s->timer, slot_timeout, L->timeout_ms, 0);
	err = uv_tcp_connect(
	    &s->creq, &s->tcp, (struct sockaddr *)&L->dst, slot_connected);
	if (err != 0)
		slot_finish(s, E_CONNECT, uv_strerror(err));
}

static void
on_progress(uv_timer_t *t)
{
	struct load *L = t->data;
	uint64_t now = uv_hrtime();
	double dt = (double)(now - L->progress_last_t) / 1e9;

	fprintf(stderr, "dirload: %s %llu/%llu, %.0f/s\n", phase_name[L->phase],
	    (unsigned long long)L->ok,
	    (unsigned long long)(L->phase == PH_FIND ? 0 : L->end),
	    (double)(L->ok - L->progress_last_ok) / dt);
	L->progress_last_ok = L->ok;
	L->progress_last_t = now;
}

/* Run one phase over jobs [0, njobs) with every slot; prints its line. */
static void
run_phase(struct load *L, enum phase ph, uint64_t njobs, int quiet)
{
	unsigned i;
	double wall;

	L->phase = ph;
	L->next = 0;
	L->end = njobs;
	L->ok = 0;
	memset(L->errs, 0, sizeof(L->errs));
	L->errs_total = 0;
	L->gave_up = 0;
	L->lat.n = 0;
	L->t_start = L->t_last = L->progress_last_t = uv_hrtime();
	L->progress_last_ok = 0;
	if (ph == PH_FIND)
		L->deadline = L->t_start + L->seconds * 1000000000ULL;
	uv_timer_start(&L->progress, on_progress, 10000, 10000);
	for (i = 0; i < L->nclients; i++)
		slot_next(&L->slots[i]);
	if (L->busy == 0)
		uv_timer_stop(&L->progress);
	uv_run(L->loop, UV_RUN_DEFAULT);
	if (quiet)
		return;
	wall = (double)(L->t_last - L->t_start) / 1e9;
	printf("%s n=%llu errors=%llu wall_s=%.3f rate=%.1f clients=%u",
	    phase_name[ph], (unsigned long long)L->ok,
	    (unsigned long long)L->errs_total, wall,
	    wall > 0 ? (double)L->ok / wall : 0.0, L->nclients);
	lat_print(&L->lat);
	for (i = 0; i < NERR; i++)
		if (L->errs[i])
			printf(" err_%s=%llu", err_name[i],
			    (unsigned long long)L->errs[i]);
	printf("\n");
	fflush(stdout);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: dirload load|search --connect ADDR:PORT [--sessions N] "
	    "[--files F]\n"
	    "               [--clients C] [--seconds T] [--seed S] "
	    "[--terms-out FILE]\n"
	    "               [--terms-per-class N] [--timeout SECONDS]\n"
	    "defaults: 10000 sessions, 1000000 files, 64 clients, 20 s, "
	    "seed 1\n");
	exit(2);
}

static uint64_t
num(const char *s, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "dirload: '%s': expected %llu..%llu\n", s,
		    (unsigned long long)min, (unsigned long long)max);
		usage();
	}
	return v;
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"connect", required_argument, NULL, 'c'},
	    {"sessions", required_argument, NULL, 'n'},
	    {"files", required_argument, NULL, 'f'},
	    {"clients", required_argument, NULL, 'C'},
	    {"seconds", required_argument, NULL, 't'},
	    {"seed", required_argument, NULL, 's'},
	    {"terms-out", required_argument, NULL, 'o'},
	    {"terms-per-class", required_argument, NULL, 'p'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct load L;
	const char *connect = NULL, *terms_out = NULL;
	uint64_t seed = 1;
	unsigned per_class = 100, i;
	int c, search;
	uv_loop_t loop;

	memset(&L, 0, sizeof(L));
	L.nsessions = 10000;
	L.nfiles = 1000000;
	L.nclients = 64;
	L.seconds = 20;
	L.timeout_ms = 30000;
	if (argc < 2 ||
	    (strcmp(argv[1], "load") != 0 && strcmp(argv[1], "search") != 0))
		usage();
	search = strcmp(argv[1], "search") == 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			connect = optarg;
			break;
		case 'n':
			L.nsessions = num(optarg, 1, 50000ULL * 250);
			break;
		case 'f':
			L.nfiles = num(optarg, 0, 1ULL << 40);
			break;
		case 'C':
			L.nclients = (unsigned)num(optarg, 1, 4096);
			break;
		case 't':
			L.seconds = num(optarg, 1, 86400);
			break;
		case 's':
			seed = num(optarg, 0, UINT64_MAX);
			break;
		case 'o':
			terms_out = optarg;
			break;
		case 'p':
			per_class = (unsigned)num(optarg, 1, 1000);
			break;
		case 'T':
			L.timeout_ms = num(optarg, 1, 3600) * 1000;
			break;
		default:
			usage();
		}
	}
	if (connect == NULL || optind != argc ||
	    addr_parse(connect, 0, &L.dst) != 0 ||
	    addr_port((struct sockaddr *)&L.dst) == 0)
		usage();

	uv_loop_init(&loop);
	L.loop = &loop;
	gen_init(&L.g, seed);
	L.st = mix64(seed ^ 0xf1d);
	L.sid = dl_alloc(L.nsessions * sizeof(*L.sid));
	L.have_sid = calloc(L.nsessions, 1);
	L.slots = calloc(L.nclients, sizeof(*L.slots));
	if (L.have_sid == NULL || L.slots == NULL) {
		fprintf(stderr, "dirload: out of memory\n");
		return 1;
	}
	for (i = 0; i < L.nclients; i++) {
		L.slots[i].L = &L;
		L.slots[i].idx = i;
		uv_timer_init(&loop, &L.slots[i].timer);
		L.slots[i].timer.data = &L.slots[i];
	}
	uv_timer_init(&loop, &L.progress);
	L.progress.data = &L;

	if (!search) {
		uint64_t errs;

		run_phase(&L, PH_LOGIN, L.nsessions, 0);
		errs = L.errs_total;
		run_phase(&L, PH_ADDF, L.nfiles, 0);
		errs += L.errs_total;
		printf("load sessions=%llu files=%llu seed=%llu cpu_s=%.2f\n",
		    (unsigned long long)L.nsessions,
		    (unsigned long long)L.nfiles, (unsigned long long)seed,
		    cpu_s());
		return errs ? 1 : 0;
	} else {
		uint64_t n = L.nclients < L.nsessions ? L.nclients
						      : L.nsessions,
			 errs;
		double c0;

		terms_make(&L.terms, &L.g, per_class);
		run_phase(&L, PH_LOGIN, n, 1);
		if (L.errs_total) {
			fprintf(stderr,
			    "dirload: %llu of the %llu logins "
			    "failed\n",
			    (unsigned long long)L.errs_total,
			    (unsigned long long)n);
			return 1;
		}
		c0 = cpu_s();
		run_phase(&L, PH_FIND, 0, 0);
		errs = L.errs_total;
		for (i = 0; i < NCLS; i++) {
			printf("class name=%s terms=%zu n=%llu", cls_name[i],
			    L.terms.count[i], (unsigned long long)L.cls_ok[i]);
			lat_print(&L.cls_lat[i]);
			printf("\n");
		}
		printf("afin entries=%llu copies=%llu cpu_s=%.2f\n",
		    (unsigned long long)L.afin_entries,
		    (unsigned long long)L.afin_copies, cpu_s() - c0);
		if (terms_out != NULL) {
			FILE *f = fopen(terms_out, "w");

			if (f == NULL) {
				fprintf(stderr, "dirload: %s: %s\n", terms_out,
				    strerror(errno));
				return 1;
			}
			for (size_t k = 0; k < L.terms.n; k++)
				fprintf(f, "%s\t%s\t%ld\t%llu\n",
				    cls_name[L.terms.v[k].cls], L.terms.v[k].s,
				    L.terms.v[k].entries,
				    (unsigned long long)L.terms.v[k].searches);
			if (fclose(f) != 0)
				return 1;
		}
		return errs ? 1 : 0;
	}
}
