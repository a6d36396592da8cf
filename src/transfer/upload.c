/*
 * The upload server: RETR -> ARET, RETP -> AREP, HASH -> AHAS.
 *
 * An upload reads one part (262144 bytes, the library's part size) at a
 * time on the thread pool, checks its SHA-1, then writes it with the chunk
 * headers interleaved as one writev. Two part buffers per upload let the
 * next read overlap the current write.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "store/hash.h"
#include "store/library.h"
#include "upload.h"
#include "warren/error.h"

#define UPLOAD_NBUF 2

enum upbuf_state { UPBUF_FREE, UPBUF_READING, UPBUF_WRITING };

struct upbuf {
	enum upbuf_state state;
	struct upload *up;
	uv_work_t work;
	uint32_t part; /* part number being read/written */
	uint64_t off;  /* file offset of data[0] */
	size_t len;    /* bytes of data */
	int err;       /* result of the read job */
	uint8_t *data; /* HASH_PART_LEN bytes */
	char *hdrs;    /* chunk headers, 5 bytes each (+ reply head) */
	uv_buf_t *iov; /* interleaved headers and data */
	unsigned niov;
};

struct upload {
	struct uploader *u;
	struct conn *c;         /* NULL once closed */
	struct library_file *f; /* own reference */
	enum course_kind kind;  /* COURSE_ARET or COURSE_AREP */
	int fd;                 /* opened by the first read job */
	uint64_t range_start;   /* first file byte sent */
	uint64_t range_end;     /* one past the last */
	uint64_t chunk_base;    /* chunk boundaries are chunk_base + k·C */
	unsigned chunk;         /* C */
	unsigned long nchunk;   /* for the reply head */
	uint32_t next_part;     /* next part to read */
	uint32_t end_part;      /* one past the last part to send */
	uint32_t parts_total;   /* parts in this reply */
	uint32_t parts_written;
	unsigned jobs;   /* read jobs in flight (0 or 1) */
	unsigned writes; /* writes in flight */
	int head_sent;
	int failed;    /* stop reading; finish when idle */
	int completed; /* every byte of the reply was written */
	uint64_t sent; /* data bytes written */
	struct upbuf bufs[UPLOAD_NBUF];
	struct upload *next, *prev;
};

struct uploader {
	uv_loop_t *loop;
	struct library *lib;
	struct upload_opts opts;
	struct upload_stats stats;
	struct upload *list; /* active uploads */
	int dead;            /* upload_free() called */
};

static void upload_pump(struct upload *up);

static void
upload_maybe_free_server(struct uploader *u)
{
	if (u->dead && u->list == NULL)
		free(u);
}

/* Called when nothing of up is in flight any more. */
static void
upload_destroy(struct upload *up)
{
	struct uploader *u = up->u;

	if (up->prev != NULL)
		up->prev->next = up->next;
	else
		u->list = up->next;
	if (up->next != NULL)
		up->next->prev = up->prev;
	u->stats.active--;
	if (up->fd >= 0)
		close(up->fd);
	for (unsigned i = 0; i < UPLOAD_NBUF; i++) {
		free(up->bufs[i].data);
		free(up->bufs[i].hdrs);
		free(up->bufs[i].iov);
	}
	library_file_unref(up->f);
	free(up);
	upload_maybe_free_server(u);
}

static int
upload_idle(const struct upload *up)
{
	return up->jobs == 0 && up->writes == 0 && up->c == NULL;
}

static void
upload_conn_closed(struct conn *c, int err)
{
	struct upload *up = c->owner;

	up->c = NULL;
	if (!up->completed) {
		up->failed = 1;
		up->u->stats.failed++;
		log_debug("upload of %s stopped: %s", up->f->name,
		    err ? warren_strerror(err) : "closed");
	}
	if (upload_idle(up))
		upload_destroy(up);
}

static void
upload_fail(struct upload *up, int err)
{
	if (up->failed)
		return;
	up->failed = 1;
	if (err == WARREN_ECHANGED) {
		up->u->stats.changed++;
		log_warn("%s changed on disk during an upload: stopped, "
			 "rehashing",
		    up->f->path);
		library_touch(up->u->lib, up->f->path);
	}
	if (up->c != NULL)
		conn_close(up->c, err);
}

/* Thread pool: open (first time), read one part, verify its SHA-1. */
static void
upbuf_read_work(uv_work_t *w)
{
	struct upbuf *b = w->data;
	struct upload *up = b->up;
	const struct library_file *f = up->f;
	uint8_t sha1[HASH_SHA1_LEN];
	uint64_t pstart = (uint64_t)b->part * HASH_PART_LEN;
	size_t plen, got = 0;
	struct stat st;

	b->err = 0;
	if (up->fd < 0) {
		up->fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (up->fd < 0) {
			b->err = errno == ENOENT ? WARREN_ECHANGED : -errno;
			return;
		}
		if (fstat(up->fd, &st) != 0 ||
		    (uint64_t)st.st_size != f->size ||
		    (int64_t)st.st_mtim.tv_sec * 1000000000 +
			    st.st_mtim.tv_nsec !=
			f->mtime_ns) {
			b->err = WARREN_ECHANGED;
			return;
		}
	}
	plen = (size_t)(f->size - pstart < HASH_PART_LEN ? f->size - pstart
							 : HASH_PART_LEN);
	while (got < plen) {
		ssize_t n = pread(
		    up->fd, b->data + got, plen - got, (off_t)(pstart + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			b->err = -errno;
			return;
		}
		if (n == 0) {
			b->err = WARREN_ECHANGED; /* truncated under us */
			return;
		}
		got += (size_t)n;
	}
	hash_sha1(b->data, plen, sha1);
	if (memcmp(sha1, f->parts + (size_t)b->part * HASH_SHA1_LEN,
		HASH_SHA1_LEN) != 0) {
		b->err = WARREN_ECHANGED;
		return;
	}
	b->off = pstart;
	b->len = plen;
}

/* Lay out headers and data of b as iovecs, per the upload's chunking. */
static void
upbuf_layout(struct upload *up, struct upbuf *b)
{
	uint64_t pos = b->off, end = b->off + b->len;
	char *h = b->hdrs;
	unsigned n = 0;

	if (!up->head_sent) {
		course_encode_chunks_head(
		    up->kind, up->nchunk, h, COURSE_CHUNKS_HEAD_LEN);
		b->iov[n++] = uv_buf_init(h, COURSE_CHUNKS_HEAD_LEN);
		h += COURSE_CHUNKS_HEAD_LEN;
		up->head_sent = 1;
	}
	while (pos < end) {
		uint64_t rel = pos - up->chunk_base;
		uint64_t in_chunk = rel % up->chunk;
		uint64_t seg_end = pos + (up->chunk - in_chunk);

		if (in_chunk == 0) {
			uint64_t clen = up->range_end - pos < up->chunk
			    ? up->range_end - pos
			    : up->chunk;

			course_encode_chunk_len(
			    (unsigned)clen, h, COURSE_CHUNK_LEN_LEN);
			b->iov[n++] = uv_buf_init(h, COURSE_CHUNK_LEN_LEN);
			h += COURSE_CHUNK_LEN_LEN;
		}
		if (seg_end > end)
			seg_end = end;
		b->iov[n++] = uv_buf_init((char *)b->data + (pos - b->off),
		    (unsigned)(seg_end - pos));
		pos = seg_end;
	}
	b->niov = n;
}

static void
upbuf_apply_faults(struct upload *up, struct upbuf *b)
{
	const struct upload_faults *fl = &up->u->opts.faults;

	if (fl->corrupt_part >= 0 && (int64_t)b->part == fl->corrupt_part &&
	    b->len > 0)
		b->data[b->len / 2] ^= 0x5a;
	if (fl->close_after >= 0 &&
	    up->sent + b->len > (uint64_t)fl->close_after) {
		uint64_t keep = (uint64_t)fl->close_after > up->sent
		    ? (uint64_t)fl->close_after - up->sent
		    : 0;

		b->len = (size_t)keep;
		up->failed = 1; /* close once this much is out */
	}
}

static void
upbuf_write_done(struct conn *c, void *arg, int status)
{
	struct upbuf *b = arg;
	struct upload *up = b->up;

	(void)c;
	up->writes--;
	b->state = UPBUF_FREE;
	if (status == 0) {
		up->parts_written++;
		up->sent += b->len;
		up->u->stats.bytes += b->len;
	}
	if (up->c == NULL) {
		if (upload_idle(up))
			upload_destroy(up);
		return;
	}
	if (status != 0) {
		upload_fail(up, status);
		return;
	}
	if (up->failed) {
		/* A fault switch cut the upload short. */
		if (up->writes == 0)
			conn_close(up->c, WARREN_ECLOSED);
		return;
	}
	if (up->parts_written == up->parts_total) {
		up->completed = 1;
		up->u->stats.completed++;
		conn_finish(up->c);
		return;
	}
	upload_pump(up);
}

static void
upbuf_read_done(uv_work_t *w, int status)
{
	struct upbuf *b = w->data;
	struct upload *up = b->up;
	int err = status ? status : b->err;

	up->jobs--;
	if (up->c == NULL || up->failed) {
		b->state = UPBUF_FREE;
		if (upload_idle(up))
			upload_destroy(up);
		else if (up->c != NULL && up->writes == 0)
			conn_close(up->c, WARREN_ECLOSED);
		return;
	}
	if (err != 0) {
		b->state = UPBUF_FREE;
		if (!up->head_sent && up->c != NULL) {
			/* Nothing sent yet: say why, as §8 asks. */
			up->failed = 1;
			if (err == WARREN_ECHANGED) {
				up->u->stats.changed++;
				library_touch(up->u->lib, up->f->path);
			}
			up->u->stats.not_found++;
			conn_write_close(up->c, COURSE_SAY_NOTFOUND,
			    sizeof(COURSE_SAY_NOTFOUND) - 1);
			return;
		}
		upload_fail(up, err);
		return;
	}
	if (up->u->opts.faults.stall && up->head_sent == 0) {
		/* Test fault: send the head only and never the data. */
		course_encode_chunks_head(
		    up->kind, up->nchunk, b->hdrs, COURSE_CHUNKS_HEAD_LEN);
		up->head_sent = 1;
		up->failed = 1;
		conn_write_copy(up->c, b->hdrs, COURSE_CHUNKS_HEAD_LEN);
		conn_set_timeout(up->c, 0);
		b->state = UPBUF_FREE;
		return;
	}
	upbuf_apply_faults(up, b);
	upbuf_layout(up, b);
	b->state = UPBUF_WRITING;
	up->writes++;
	if (conn_writev(up->c, b->iov, b->niov, upbuf_write_done, b) != 0) {
		up->writes--;
		b->state = UPBUF_FREE;
		upload_fail(up, WARREN_ECLOSED);
		return;
	}
	upload_pump(up);
}

/* Start the next read if a buffer is free and no read is in flight. */
static void
upload_pump(struct upload *up)
{
	if (up->failed || up->c == NULL || up->jobs > 0 ||
	    up->next_part >= up->end_part)
		return;
	for (unsigned i = 0; i < UPLOAD_NBUF; i++) {
		struct upbuf *b = &up->bufs[i];

		if (b->state != UPBUF_FREE)
			continue;
		b->state = UPBUF_READING;
		b->part = up->next_part++;
		b->work.data = b;
		up->jobs++;
		if (uv_queue_work(up->u->loop, &b->work, upbuf_read_work,
			upbuf_read_done) != 0) {
			up->jobs--;
			b->state = UPBUF_FREE;
			upload_fail(up, WARREN_ECLOSED);
		}
		return;
	}
}

static void
upload_refuse(struct conn *c, const char *sentence)
{
	conn_write_close(c, sentence, strlen(sentence));
}

static void
upload_send_hash(
    struct uploader *u, struct conn *c, const struct library_file *f)
{
	size_t len = COURSE_AHAS_HEAD_LEN + (size_t)f->nparts * COURSE_SHA1_LEN;
	char *buf;
	size_t off;

	if (f->size > COURSE_LENFILE_MAX || f->nparts > COURSE_NPART_MAX) {
		u->stats.not_found++;
		upload_refuse(c, COURSE_SAY_NOTFOUND);
		return;
	}
	buf = xmalloc(len);
	off = (size_t)course_encode_ahas_head(
	    f->size, HASH_PART_LEN, f->nparts, buf, len);
	for (uint32_t i = 0; i < f->nparts; i++)
		off += (size_t)course_encode_ahas_part(
		    f->parts + (size_t)i * HASH_SHA1_LEN, buf + off, len - off);
	u->stats.hash_served++;
	conn_write_close(c, buf, off);
	free(buf);
}

/* Peers send nothing after their request; reading lets us notice them
 * leaving (EOF) even while we have nothing to write. */
static void
upload_discard(struct conn *c)
{
	conn_consume(c, c->rlen);
}

static void
upload_start(struct uploader *u, struct conn *c, const struct library_file *f,
    const struct course_msg *m)
{
	struct upload *up = xcalloc(1, sizeof(*up));
	unsigned max_hdrs;
	int err;

	up->u = u;
	up->c = c;
	up->f = library_file_ref(f);
	up->fd = -1;
	up->chunk = u->opts.chunk;
	if (m->kind == COURSE_RETR) {
		up->kind = COURSE_ARET;
		up->range_start = 0;
		up->range_end = f->size;
		up->chunk_base = 0;
		up->next_part = 0;
		up->end_part = f->nparts;
		err = course_chunk_plan(
		    f->size, u->opts.chunk, &up->chunk, &up->nchunk);
	} else {
		uint64_t start = (uint64_t)m->partnum * HASH_PART_LEN;

		up->kind = COURSE_AREP;
		up->range_start = start;
		up->range_end = f->size - start < HASH_PART_LEN
		    ? f->size
		    : start + HASH_PART_LEN;
		up->chunk_base = start;
		up->next_part = (uint32_t)m->partnum;
		up->end_part = up->next_part + 1;
		err = course_chunk_plan(up->range_end - start, u->opts.chunk,
		    &up->chunk, &up->nchunk);
	}
	up->next = u->list;
	if (u->list != NULL)
		u->list->prev = up;
	u->list = up;
	u->stats.active++;
	u->stats.started++;
	c->owner = up;
	c->on_close = upload_conn_closed;
	c->on_read = upload_discard;
	conn_resume(c);
	if (err != 0) {
		up->failed = 1;
		upload_refuse(c, COURSE_SAY_FAILED);
		return;
	}
	up->parts_total = up->end_part - up->next_part;
	max_hdrs = HASH_PART_LEN / up->chunk + 3;
	for (unsigned i = 0; i < UPLOAD_NBUF; i++) {
		struct upbuf *b = &up->bufs[i];

		b->up = up;
		b->data = xmalloc(HASH_PART_LEN);
		b->hdrs = xmalloc(COURSE_CHUNKS_HEAD_LEN +
		    (size_t)max_hdrs * COURSE_CHUNK_LEN_LEN);
		b->iov = xcalloc(2 * (size_t)max_hdrs + 1, sizeof(*b->iov));
	}
	conn_set_timeout(c, u->opts.idle_ms);
	if (up->end_part == 0) {
		/* Empty file: the reply is the head alone (ARET000000). */
		char head[COURSE_CHUNKS_HEAD_LEN];

		course_encode_chunks_head(up->kind, 0, head, sizeof(head));
		up->head_sent = 1;
		up->completed = 1;
		u->stats.completed++;
		conn_write_close(c, head, sizeof(head));
		return;
	}
	upload_pump(up);
}

void
upload_handle(struct uploader *u, struct conn *c, const struct course_msg *m)
{
	const struct library_file *f = library_find(u->lib, m->md5);
	char peer[ADDR_STRLEN];

	conn_consume(c, c->rlen);
	addr_format((struct sockaddr *)&c->peer, peer, sizeof(peer));
	log_debug("%s %s from %s", course_kind_name(m->kind), m->md5, peer);
	if (f == NULL) {
		u->stats.not_found++;
		upload_refuse(c, COURSE_SAY_NOTFOUND);
		return;
	}
	if (m->kind == COURSE_HASH) {
		upload_send_hash(u, c, f);
		return;
	}
	if (m->kind == COURSE_RETP && m->partnum >= f->nparts) {
		u->stats.not_found++;
		upload_refuse(c, COURSE_SAY_INVALID);
		return;
	}
	if (u->stats.active >= u->opts.slots) {
		u->stats.busy++;
		upload_refuse(c, COURSE_SAY_BUSY);
		return;
	}
	upload_start(u, c, f, m);
}

struct uploader *
upload_new(uv_loop_t *loop, struct library *lib, const struct upload_opts *opts)
{
	struct uploader *u = xcalloc(1, sizeof(*u));

	u->loop = loop;
	u->lib = lib;
	u->opts = *opts;
	if (u->opts.slots == 0)
		u->opts.slots = 16;
	if (u->opts.chunk == 0)
		u->opts.chunk = COURSE_CHUNK_DEFAULT;
	if (u->opts.idle_ms == 0)
		u->opts.idle_ms = 30000;
	return u;
}

void
upload_stats(const struct uploader *u, struct upload_stats *out)
{
	*out = u->stats;
}

void
upload_free(struct uploader *u)
{
	struct upload *up, *next;

	if (u == NULL)
		return;
	u->dead = 1;
	for (up = u->list; up != NULL; up = next) {
		next = up->next;
		up->failed = 1;
		if (up->c != NULL)
			conn_close(up->c, WARREN_ECANCELED);
	}
	upload_maybe_free_server(u);
}
