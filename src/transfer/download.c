/*
 * The download manager: RETR from one source at a time, streamed into a
 * .part file with its MD5 computed on the way, renamed only after the MD5
 * matches (course.md §8 client side, §2.6 for names).
 *
 * Disk work (create, write + hash, rename, delete) runs on the thread pool,
 * one job at a time per download so writes and hashing stay in order. The
 * loop keeps reading into a second buffer meanwhile and pauses the socket
 * when both are full.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "download.h"
#include "store/hash.h"
#include "warren/error.h"
#include "wire/course.h"

#define DOWNLOAD_BUF_LEN      (1024 * 1024) /* per write job */
#define DOWNLOAD_RCAP         (256 * 1024)  /* socket read buffer */
#define DOWNLOAD_SENTENCE_MAX 200           /* course.md §2.7 item 3 */
#define DOWNLOAD_NAME_TRIES   1000

enum download_job {
	JOB_NONE,
	JOB_CREATE,   /* mkdir check, exclusive create of the .part */
	JOB_WRITE,    /* pwrite + MD5 update */
	JOB_FINALIZE, /* MD5 final, fsync, rename to the final name */
	JOB_DISCARD,  /* delete the .part, or keep it aside as .bad.part */
};

struct download {
	struct downloader *dl;
	uint64_t id;
	char md5[COURSE_MD5_LEN + 1];
	char *name;       /* sanitised local name, owned */
	char *dir;        /* owned */
	char *part_path;  /* owned, once created */
	char *final_path; /* owned, once renamed */
	enum download_state state;
	int err;
	char message[320];

	struct download_source sources[DOWNLOAD_MAX_SOURCES];
	unsigned nsources;
	unsigned cur_source; /* index into sources */

	struct dial *dial;
	struct conn *c;
	struct course_chunks parser;
	int in_sentence; /* reply was not ARET: collecting the text */
	char sentence[DOWNLOAD_SENTENCE_MAX + 1];
	size_t sentence_len;

	int fd;
	struct hash md5ctx; /* touched only by jobs, one at a time */
	uint8_t *pend;      /* bytes waiting for the next write job */
	size_t pend_len;
	uint8_t *wbuf; /* bytes the job in flight writes */
	size_t wlen;
	uint64_t woff;         /* file offset of the next write */
	enum download_job job; /* in flight, or JOB_NONE */
	int job_err;
	int md5_ok;   /* result of JOB_FINALIZE */
	int keep_bad; /* JOB_DISCARD: keep aside instead of delete */
	uv_work_t work;

	uint64_t received;  /* data bytes off the network */
	uint64_t written;   /* data bytes on disk */
	uint64_t size;      /* exact once the last chunk is in */
	uint64_t size_hint; /* estimate from #chunk until then */
	int size_known;
	double rate;
	uint64_t rate_bytes; /* written at the last progress tick */
	uint64_t rate_ms;
	uint64_t reported; /* written at the last progress event */
	int finished;      /* DONE or FAILED reported */
	int freeing;       /* manager is going away */

	struct download *next;
};

struct downloader {
	uv_loop_t *loop;
	struct download_opts opts;
	struct sockaddr_storage bind4, bind6;
	download_cb cb;
	void *cb_arg;
	uint64_t next_id;
	struct download *list;
	uv_timer_t progress;
	int timer_open;
	int dead;
};

static void download_next_source(struct download *d);
static void download_pump(struct download *d);
static void download_maybe_free(struct download *d);
static void download_read(struct conn *c);

const char *
download_state_name(enum download_state s)
{
	switch (s) {
	case DOWNLOAD_CREATING:
		return "creating";
	case DOWNLOAD_CONNECTING:
		return "connecting";
	case DOWNLOAD_RECEIVING:
		return "receiving";
	case DOWNLOAD_VERIFYING:
		return "verifying";
	case DOWNLOAD_DONE:
		return "done";
	case DOWNLOAD_FAILED:
		return "failed";
	}
	return "?";
}

static void
download_set_state(struct download *d, enum download_state s)
{
	if (d->state == s)
		return;
	log_debug("download %llu %s: %s -> %s", (unsigned long long)d->id,
	    d->md5, download_state_name(d->state), download_state_name(s));
	d->state = s;
}

static void
download_emit(struct download *d, enum download_event ev)
{
	if (d->dl->cb != NULL && !d->freeing)
		d->dl->cb(d->dl->cb_arg, d, ev);
}

/* "dir/base (i)ext" where ext starts at the last '.' that is not first. */
static char *
download_candidate(
    const char *dir, const char *name, unsigned i, const char *suffix)
{
	const char *dot = strrchr(name, '.');
	size_t stem;

	if (i == 0)
		return xasprintf("%s/%s%s", dir, name, suffix);
	if (dot == NULL || dot == name)
		dot = name + strlen(name);
	stem = (size_t)(dot - name);
	return xasprintf(
	    "%s/%.*s (%u)%s%s", dir, (int)stem, name, i, dot, suffix);
}

/* ---- thread-pool jobs ------------------------------------------------ */

static void
download_job_work(uv_work_t *w)
{
	struct download *d = w->data;

	d->job_err = 0;
	switch (d->job) {
	case JOB_CREATE:
		for (unsigned i = 0; i < DOWNLOAD_NAME_TRIES; i++) {
			char *p = download_candidate(
			    d->dir, d->name, i, ".part");

			d->fd = open(p,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				O_CLOEXEC,
			    0644);
			if (d->fd >= 0) {
				d->part_path = p;
				hash_init(&d->md5ctx, HASH_MD5);
				return;
			}
			free(p);
			if (errno != EEXIST) {
				d->job_err = -errno;
				return;
			}
		}
		d->job_err = -EEXIST;
		return;
	case JOB_WRITE: {
		size_t done = 0;

		while (done < d->wlen) {
			ssize_t n = pwrite(d->fd, d->wbuf + done,
			    d->wlen - done, (off_t)(d->woff + done));

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				d->job_err = -errno;
				return;
			}
			done += (size_t)n;
		}
		hash_update(&d->md5ctx, d->wbuf, d->wlen);
		return;
	}
	case JOB_FINALIZE: {
		uint8_t digest[HASH_MD5_LEN];
		char hex[2 * HASH_MD5_LEN + 1];

		hash_final(&d->md5ctx, digest);
		hash_hex(digest, HASH_MD5_LEN, hex);
		d->md5_ok = strcmp(hex, d->md5) == 0;
		if (!d->md5_ok)
			return;
		if (fsync(d->fd) != 0) {
			d->job_err = -errno;
			return;
		}
		for (unsigned i = 0; i < DOWNLOAD_NAME_TRIES; i++) {
			char *p = download_candidate(d->dir, d->name, i, "");

			/* link() fails if p exists: never replaces a file. */
			if (link(d->part_path, p) == 0) {
				unlink(d->part_path);
				d->final_path = p;
				return;
			}
			free(p);
			if (errno != EEXIST) {
				d->job_err = -errno;
				return;
			}
		}
		d->job_err = -EEXIST;
		return;
	}
	case JOB_DISCARD:
		if (d->md5ctx.ctx != NULL)
			hash_release(&d->md5ctx);
		if (d->part_path == NULL)
			return;
		if (d->keep_bad) {
			char *base = xasprintf("%s.bad", d->name);

			for (unsigned i = 0; i < DOWNLOAD_NAME_TRIES; i++) {
				char *p = download_candidate(
				    d->dir, base, i, ".part");

				if (link(d->part_path, p) == 0) {
					unlink(d->part_path);
					free(d->part_path);
					d->part_path = p;
					break;
				}
				free(p);
				if (errno != EEXIST)
					break;
			}
			free(base);
		} else {
			unlink(d->part_path);
		}
		return;
	case JOB_NONE:
		return;
	}
}

static void download_job_done(uv_work_t *w, int status);

static void
download_job_start(struct download *d, enum download_job job)
{
	d->job = job;
	d->work.data = d;
	if (uv_queue_work(d->dl->loop, &d->work, download_job_work,
		download_job_done) != 0)
		abort(); /* only fails for a NULL work callback */
}

/* ---- ending ------------------------------------------------------------ */

static void
download_close_conn(struct download *d)
{
	/* d->dial stays set until its callback runs: it still points at d. */
	if (d->dial != NULL)
		dial_cancel(d->dial);
	if (d->c != NULL) {
		struct conn *c = d->c;

		d->c = NULL;
		c->owner = NULL;
		c->on_close = NULL;
		c->on_read = NULL;
		conn_close(c, 0);
	}
}

/* Fail for good: close the source, discard the file once jobs are done. */
static void download_fail(struct download *d, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
download_fail(struct download *d, int err, const char *fmt, ...)
{
	char msg[sizeof(d->message)];
	va_list ap;

	if (d->state == DOWNLOAD_FAILED || d->state == DOWNLOAD_DONE)
		return;
	/* fmt's arguments may include d->message itself. */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memcpy(d->message, msg, sizeof(msg));
	d->err = err;
	d->keep_bad = err == WARREN_EMD5;
	download_close_conn(d);
	download_set_state(d, DOWNLOAD_FAILED);
	log_warn("download %s failed: %s", d->md5, d->message);
	if (d->job == JOB_NONE)
		download_job_start(d, JOB_DISCARD);
	/* else: the job's completion starts the discard */
}

static void
download_finish_failed(struct download *d)
{
	if (d->fd >= 0) {
		close(d->fd);
		d->fd = -1;
	}
	if (!d->finished) {
		d->finished = 1;
		download_emit(d, DOWNLOAD_EV_FAILED);
	}
	download_maybe_free(d);
}

static void
download_job_done(uv_work_t *w, int status)
{
	struct download *d = w->data;
	enum download_job job = d->job;
	int err = status ? status : d->job_err;

	d->job = JOB_NONE;
	if (job == JOB_DISCARD) {
		download_finish_failed(d);
		return;
	}
	if (d->state == DOWNLOAD_FAILED) {
		download_job_start(d, JOB_DISCARD);
		return;
	}
	switch (job) {
	case JOB_CREATE:
		if (err != 0) {
			download_fail(d, err, "cannot create %s/%s.part: %s",
			    d->dir, d->name, uv_strerror(err));
			return;
		}
		download_set_state(d, DOWNLOAD_CONNECTING);
		download_next_source(d);
		return;
	case JOB_WRITE:
		if (err != 0) {
			download_fail(d, err, "cannot write %s: %s",
			    d->part_path, uv_strerror(err));
			return;
		}
		d->written += d->wlen;
		d->woff += d->wlen;
		d->wlen = 0;
		download_pump(d);
		return;
	case JOB_FINALIZE:
		if (err != 0) {
			download_fail(d, err, "cannot save %s: %s", d->name,
			    uv_strerror(err));
			return;
		}
		if (!d->md5_ok) {
			download_fail(d, WARREN_EMD5,
			    "MD5 mismatch: the data from %s is not %s; kept "
			    "aside, not renamed",
			    d->sources[d->cur_source].label, d->md5);
			return;
		}
		close(d->fd);
		d->fd = -1;
		download_set_state(d, DOWNLOAD_DONE);
		log_info("downloaded %s (%llu bytes, MD5 verified) to %s",
		    d->md5, (unsigned long long)d->size, d->final_path);
		d->finished = 1;
		download_emit(d, DOWNLOAD_EV_DONE);
		download_maybe_free(d);
		return;
	case JOB_DISCARD:
	case JOB_NONE:
		return;
	}
}

/* ---- receiving ---------------------------------------------------------- */

/*
 * Hand pending bytes to a write job when none is running; finalize when the
 * reply is complete and everything is on disk; pause or resume the socket.
 */
static void
download_pump(struct download *d)
{
	if (d->job != JOB_NONE || d->state == DOWNLOAD_FAILED)
		return;
	if (d->pend_len > 0) {
		uint8_t *t = d->wbuf;

		d->wbuf = d->pend;
		d->wlen = d->pend_len;
		d->pend = t;
		d->pend_len = 0;
		download_job_start(d, JOB_WRITE);
		if (d->c != NULL)
			download_read(d->c); /* bytes held while paused */
		return;
	}
	if (d->state == DOWNLOAD_VERIFYING)
		download_job_start(d, JOB_FINALIZE);
}

static void
download_sentence_done(struct download *d)
{
	int err = course_sentence_classify(d->sentence, d->sentence_len);
	struct download_source *s = &d->sources[d->cur_source];

	s->err = err;
	download_close_conn(d);
	if (err == WARREN_ENOTFOUND)
		snprintf(d->message, sizeof(d->message),
		    "%s does not have %s (it said: \"%s\")", s->label, d->md5,
		    d->sentence);
	else
		snprintf(d->message, sizeof(d->message),
		    "%s refused the request: \"%s\"", s->label, d->sentence);
	d->err = err;
	d->in_sentence = 0;
	d->cur_source++;
	download_next_source(d);
}

static void
download_read(struct conn *c)
{
	struct download *d = c->owner;

	while (c->rlen > 0 && d->c == c) {
		size_t space = DOWNLOAD_BUF_LEN - d->pend_len;
		size_t in = c->rlen < space ? c->rlen : space;
		const uint8_t *data;
		size_t dlen = 0;
		int n;

		if (d->in_sentence) {
			for (size_t i = 0; i < c->rlen &&
			     d->sentence_len < DOWNLOAD_SENTENCE_MAX;
			     i++) {
				uint8_t ch = c->rbuf[i];

				d->sentence[d->sentence_len++] = ch >= 0x20 &&
					ch < 0x7f
				    ? (char)ch
				    : '?';
			}
			d->sentence[d->sentence_len] = '\0';
			conn_consume(c, c->rlen);
			if (d->sentence_len == DOWNLOAD_SENTENCE_MAX)
				download_sentence_done(d);
			return;
		}
		n = course_chunks_feed(&d->parser, c->rbuf, in, &data, &dlen);
		if (n == WARREN_EREFUSED) {
			d->in_sentence = 1;
			conn_set_timeout(c, 1000);
			continue;
		}
		if (n < 0) {
			download_fail(d, n,
			    "%s sent a malformed ARET (%s) after %llu bytes",
			    d->sources[d->cur_source].label, warren_strerror(n),
			    (unsigned long long)d->received);
			return;
		}
		if (n == 0) {
			if (in < c->rlen) {
				/* Our buffer is full: wait for the write. */
				conn_pause(c);
				return;
			}
			break; /* need more from the network */
		}
		if (d->parser.nchunk > 0 && !d->size_known)
			d->size_hint = (uint64_t)d->parser.nchunk *
			    COURSE_CHUNK_DEFAULT;
		memcpy(d->pend + d->pend_len, data, dlen);
		d->pend_len += dlen;
		d->received += dlen;
		conn_consume(c, (size_t)n);
		if (course_chunks_done(&d->parser)) {
			d->size = d->received;
			d->size_known = 1;
			download_close_conn(d);
			download_set_state(d, DOWNLOAD_VERIFYING);
			download_pump(d);
			return;
		}
		if (d->job == JOB_NONE)
			download_pump(d);
	}
	if (d->c == c && c->paused && d->pend_len < DOWNLOAD_BUF_LEN)
		conn_resume(c);
}

static void
download_conn_closed(struct conn *c, int err)
{
	struct download *d = c->owner;
	struct download_source *s;

	if (d == NULL || d->c != c)
		return;
	d->c = NULL;
	s = &d->sources[d->cur_source];
	if (d->in_sentence) {
		download_sentence_done(d);
		return;
	}
	if (err == UV_ETIMEDOUT)
		download_fail(d, err,
		    "%s stalled: no data for %llu s after %llu bytes", s->label,
		    (unsigned long long)d->dl->opts.idle_ms / 1000,
		    (unsigned long long)d->received);
	else if (c->rx_bytes == 0)
		/* Closed without a byte: the peer refused silently. */
		download_fail(d, WARREN_ECLOSED,
		    "%s closed the connection without answering", s->label);
	else
		download_fail(d, WARREN_ECLOSED,
		    "%s closed the connection early, after %llu bytes of "
		    "%s",
		    s->label, (unsigned long long)d->received,
		    d->size_hint ? "the file" : "the reply");
}

static void
download_dialed(void *arg, struct conn *c, int status)
{
	struct download *d = arg;
	struct download_source *s = &d->sources[d->cur_source];
	struct course_msg m;
	uint8_t req[64];
	int n;

	d->dial = NULL;
	if (d->state == DOWNLOAD_FAILED) {
		if (c != NULL)
			conn_close(c, 0);
		download_maybe_free(d);
		return;
	}
	if (status != 0) {
		s->err = status;
		d->err = status;
		snprintf(d->message, sizeof(d->message), "cannot reach %s: %s",
		    s->label, uv_strerror(status));
		d->cur_source++;
		download_next_source(d);
		return;
	}
	d->c = c;
	memset(&m, 0, sizeof(m));
	m.kind = COURSE_RETR;
	memcpy(m.md5, d->md5, sizeof(m.md5));
	n = course_encode(&m, req, sizeof(req));
	course_chunks_init(&d->parser, COURSE_ARET);
	d->in_sentence = 0;
	d->sentence_len = 0;
	if (conn_start(c, download_read, download_conn_closed, d,
		d->dl->opts.idle_ms) != 0 ||
	    n <= 0 || conn_write_copy(c, req, (size_t)n) != 0) {
		download_close_conn(d);
		download_fail(d, WARREN_ECLOSED, "cannot talk to %s", s->label);
		return;
	}
	download_set_state(d, DOWNLOAD_RECEIVING);
}

/*
 * Try sources in order. A source that refused (not found, busy) is skipped
 * for the next one; with RETR, a source that failed mid-transfer ends the
 * download (the partial data cannot be trusted to continue elsewhere).
 */
static void
download_next_source(struct download *d)
{
	struct download_source *s;

	if (d->state == DOWNLOAD_FAILED)
		return;
	if (d->received > 0 || d->pend_len > 0 || d->written > 0) {
		download_fail(
		    d, d->err ? d->err : WARREN_ECLOSED, "%s", d->message);
		return;
	}
	if (d->cur_source >= d->nsources) {
		if (d->message[0] == '\0')
			snprintf(d->message, sizeof(d->message),
			    "no source for %s", d->md5);
		download_fail(
		    d, d->err ? d->err : WARREN_ENOTFOUND, "%s", d->message);
		return;
	}
	s = &d->sources[d->cur_source];
	download_set_state(d, DOWNLOAD_CONNECTING);
	d->dial = dial_start(d->dl->loop, s->addrs, s->naddrs,
	    &d->dl->opts.dial, download_dialed, d);
}

/* ---- manager ------------------------------------------------------------ */

static void
download_maybe_free(struct download *d)
{
	struct downloader *dl = d->dl;
	struct download **pp;

	if (!d->freeing || d->job != JOB_NONE || d->c != NULL ||
	    d->dial != NULL)
		return;
	for (pp = &dl->list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	if (d->fd >= 0)
		close(d->fd);
	if (d->md5ctx.ctx != NULL)
		hash_release(&d->md5ctx);
	free(d->name);
	free(d->dir);
	free(d->part_path);
	free(d->final_path);
	free(d->pend);
	free(d->wbuf);
	free(d);
	if (dl->dead && dl->list == NULL && !dl->timer_open)
		free(dl);
}

static void
downloader_timer_closed(uv_handle_t *h)
{
	struct downloader *dl = h->data;

	dl->timer_open = 0;
	if (dl->list == NULL)
		free(dl);
}

static void
download_progress_tick(uv_timer_t *t)
{
	struct downloader *dl = t->data;
	uint64_t now = uv_now(dl->loop);

	for (struct download *d = dl->list; d != NULL; d = d->next) {
		double dt, inst;

		if (d->finished)
			continue;
		dt = (double)(now - d->rate_ms) / 1000.0;
		if (dt <= 0)
			continue;
		inst = (double)(d->written + d->pend_len - d->rate_bytes) / dt;
		d->rate = d->rate == 0 ? inst : 0.5 * d->rate + 0.5 * inst;
		d->rate_bytes = d->written + d->pend_len;
		d->rate_ms = now;
		if (d->rate_bytes != d->reported) {
			d->reported = d->rate_bytes;
			download_emit(d, DOWNLOAD_EV_PROGRESS);
		}
	}
}

struct downloader *
downloader_new(uv_loop_t *loop, const struct download_opts *opts)
{
	struct downloader *dl = xcalloc(1, sizeof(*dl));

	dl->loop = loop;
	dl->opts = *opts;
	if (dl->opts.idle_ms == 0)
		dl->opts.idle_ms = 30000;
	if (dl->opts.progress_ms == 0)
		dl->opts.progress_ms = 250;
	dl->opts.dial.rcap = DOWNLOAD_RCAP;
	if (opts->dial.bind4 != NULL) {
		memcpy(
		    &dl->bind4, opts->dial.bind4, sizeof(struct sockaddr_in));
		dl->opts.dial.bind4 = (struct sockaddr *)&dl->bind4;
	}
	if (opts->dial.bind6 != NULL) {
		memcpy(
		    &dl->bind6, opts->dial.bind6, sizeof(struct sockaddr_in6));
		dl->opts.dial.bind6 = (struct sockaddr *)&dl->bind6;
	}
	dl->next_id = 1;
	uv_timer_init(loop, &dl->progress);
	dl->timer_open = 1;
	dl->progress.data = dl;
	uv_timer_start(&dl->progress, download_progress_tick,
	    dl->opts.progress_ms, dl->opts.progress_ms);
	uv_unref((uv_handle_t *)&dl->progress);
	return dl;
}

void
downloader_set_cb(struct downloader *dl, download_cb cb, void *arg)
{
	dl->cb = cb;
	dl->cb_arg = arg;
}

int
download_start(struct downloader *dl, const char *md5, const char *name,
    const char *dir, const struct download_source *sources, unsigned nsources,
    struct download **out)
{
	char clean[COURSE_NAME_LEN * 4 + 1];
	char lmd5[COURSE_MD5_LEN + 1];
	struct download *d;
	struct stat st;
	int n;

	if (strlen(md5) != COURSE_MD5_LEN || course_md5_parse(md5, lmd5) != 0)
		return WARREN_EFIELD;
	if (nsources == 0)
		return WARREN_EEMPTY;
	if (dir[0] != '/' || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (name == NULL)
		name = "";
	n = course_name_sanitize(name,
	    strlen(name) < COURSE_NAME_LEN * 4 ? strlen(name)
					       : COURSE_NAME_LEN * 4,
	    lmd5, clean, sizeof(clean));
	if (n < 0)
		return n;

	d = xcalloc(1, sizeof(*d));
	d->dl = dl;
	d->id = dl->next_id++;
	memcpy(d->md5, lmd5, sizeof(d->md5));
	d->name = xstrdup(clean);
	d->dir = xstrdup(dir);
	d->fd = -1;
	d->nsources = nsources < DOWNLOAD_MAX_SOURCES ? nsources
						      : DOWNLOAD_MAX_SOURCES;
	memcpy(d->sources, sources, d->nsources * sizeof(sources[0]));
	d->pend = xmalloc(DOWNLOAD_BUF_LEN);
	d->wbuf = xmalloc(DOWNLOAD_BUF_LEN);
	d->rate_ms = uv_now(dl->loop);
	d->state = DOWNLOAD_CREATING;
	d->next = dl->list;
	dl->list = d;
	*out = d;
	download_emit(d, DOWNLOAD_EV_STARTED);
	download_job_start(d, JOB_CREATE);
	return 0;
}

void
download_info(const struct download *d, struct download_info *out)
{
	memset(out, 0, sizeof(*out));
	out->id = d->id;
	out->md5 = d->md5;
	out->name = d->name;
	out->path = d->final_path ? d->final_path
	    : d->part_path        ? d->part_path
				  : "";
	out->state = d->state;
	out->size = d->size_known ? d->size : d->size_hint;
	out->size_known = d->size_known;
	out->bytes = d->written + d->pend_len + d->wlen;
	if (d->state == DOWNLOAD_DONE)
		out->bytes = d->size;
	out->rate = d->rate;
	out->nsources = d->nsources;
	out->source = d->cur_source < d->nsources
	    ? d->sources[d->cur_source].label
	    : "";
	out->err = d->err;
	out->message = d->message;
}

uint64_t
download_id(const struct download *d)
{
	return d->id;
}

struct download *
download_find(struct downloader *dl, uint64_t id)
{
	for (struct download *d = dl->list; d != NULL; d = d->next)
		if (d->id == id)
			return d;
	return NULL;
}

void
downloader_foreach(
    struct downloader *dl, void (*fn)(void *arg, struct download *d), void *arg)
{
	for (struct download *d = dl->list; d != NULL; d = d->next)
		fn(arg, d);
}

void
downloader_free(struct downloader *dl)
{
	struct download *d, *next;

	if (dl == NULL)
		return;
	dl->dead = 1;
	uv_close((uv_handle_t *)&dl->progress, downloader_timer_closed);
	for (d = dl->list; d != NULL; d = next) {
		next = d->next;
		d->freeing = 1;
		if (d->state != DOWNLOAD_DONE && d->state != DOWNLOAD_FAILED)
			download_fail(d, WARREN_ECANCELED, "node stopping");
		else
			download_maybe_free(d);
	}
}
