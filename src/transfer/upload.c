/*
 * The upload server: RETR -> ARET, RETP -> AREP, HASH -> AHAS.
 *
 * An upload reads one part (262144 bytes, the library's part size) at a
 * time on the thread pool, checks its SHA-1, then writes it with the chunk
 * headers interleaved as one writev. Two part buffers per upload let the
 * next read overlap the current write.
 *
 * Slots and queue: an upload holds a slot from its start until its last
 * byte is written (or it fails). A RETR/RETP that finds every slot taken
 * waits in a FIFO queue, still reading its connection so that a peer who
 * leaves is forgotten at once; one timer answers Busy to the oldest waiter
 * when its time is up. A peer's EOF does not stop a running upload: a
 * client that shuts down its sending side after the request (half-close)
 * still reads the reply; a peer that is really gone fails the next write.
 * A waiter's EOF gets Busy at once (it may be gone: it keeps no place).
 *
 * Rate: every write is accounted in the uploader's token bucket once it is
 * done; while the bucket is in debt the upload waits on its own timer
 * before it writes again (reading ahead goes on). Under a low limit a part
 * is written in slices of whole chunk units, so that no upload stays
 * silent for long.
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
#include "transfer/ratelimit.h"
#include "upload.h"
#include "warren/error.h"

#define UPLOAD_NBUF 2

/* Under a rate limit, a write carries about 1/UPLOAD_SLICES_PER_S of a
 * second's worth of bytes, and never less than UPLOAD_SLICE_MIN. */
#define UPLOAD_SLICES_PER_S 8
#define UPLOAD_SLICE_MIN    4096

enum upbuf_state {
	UPBUF_FREE,
	UPBUF_READING, /* read job in flight */
	UPBUF_READY,   /* laid out; units [unit_done, nunits) to write */
	UPBUF_WRITING, /* units [unit_done, unit_end) being written */
};

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
	/* Writes carry whole units: a chunk unit (Lenchunk + data, §2.2),
	 * with the reply head joined to the first; a chunk begun in the
	 * previous buffer ends in a unit of its own. Unit k is iov entries
	 * [units[k], units[k + 1]); units[nunits] == niov. */
	unsigned *units;
	unsigned nunits;
	unsigned unit_done; /* units already written */
	unsigned unit_end;  /* one past the last unit of the write in flight */
	size_t wlen;        /* bytes of the write in flight */
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
	uint32_t send_part; /* next part to write: parts go out in order */
	unsigned jobs;      /* read jobs in flight (0 or 1) */
	unsigned writes;    /* writes in flight (0 or 1) */
	int head_sent;
	int failed;      /* stop reading; finish when idle */
	int cut;         /* fault: close once the part being sent is out */
	int completed;   /* every byte of the reply was written */
	int has_slot;    /* counted in stats.active */
	int pacing;      /* waiting on pace for the rate limit */
	uint64_t sent;   /* data bytes written */
	uv_timer_t pace; /* rate-limit wait; up is freed in its close cb */
	struct upbuf bufs[UPLOAD_NBUF];
	struct upload *next, *prev;
};

/* A RETR/RETP waiting for a slot. */
struct upload_wait {
	struct uploader *u;
	struct conn *c;        /* owner is this record while queued */
	enum course_kind kind; /* COURSE_RETR or COURSE_RETP */
	char md5[COURSE_MD5_LEN + 1];
	unsigned long partnum; /* RETP */
	uint64_t deadline_ms;  /* uv_now() after which it gets Busy */
	struct upload_wait *next, *prev;
};

struct uploader {
	uv_loop_t *loop;
	struct library *lib;
	struct upload_opts opts;
	struct upload_stats stats;
	struct ratelimit rate; /* shared by every upload */
	size_t slice_max;      /* bytes per paced write; 0 = a whole part */
	struct upload *list;   /* uploads not yet destroyed */
	struct upload_wait *qhead, *qtail; /* FIFO, oldest (first due) first */
	uv_timer_t qtimer;                 /* fires when qhead is due */
	unsigned handles; /* uv handles not yet closed: qtimer, paces */
	int dead;         /* upload_free() called */
};

static void upload_pump(struct upload *up);
static void upload_send(struct upload *up);
static void upload_queue_run(struct uploader *u);

static void
upload_maybe_free_server(struct uploader *u)
{
	if (u->dead && u->list == NULL && u->handles == 0)
		free(u);
}

static void
upload_handle_closed(uv_handle_t *h)
{
	struct uploader *u = h->data;

	u->handles--;
	upload_maybe_free_server(u);
}

static void
upload_pace_closed(uv_handle_t *h)
{
	struct upload *up = h->data;
	struct uploader *u = up->u;

	free(up);
	u->handles--;
	upload_maybe_free_server(u);
}

/* Give up's slot to the oldest waiter. Idempotent. */
static void
upload_release_slot(struct upload *up)
{
	struct uploader *u = up->u;

	if (!up->has_slot)
		return;
	up->has_slot = 0;
	u->stats.active--;
	if (!u->dead)
		upload_queue_run(u);
}

static void
upload_free_bufs(struct upload *up)
{
	for (unsigned i = 0; i < UPLOAD_NBUF; i++) {
		free(up->bufs[i].data);
		free(up->bufs[i].hdrs);
		free(up->bufs[i].iov);
		free(up->bufs[i].units);
		up->bufs[i].units = NULL;
		up->bufs[i].data = NULL;
		up->bufs[i].hdrs = NULL;
		up->bufs[i].iov = NULL;
	}
}

/* Called when nothing of up is in flight any more; up is freed once its
 * pace timer is closed. */
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
	if (up->fd >= 0)
		close(up->fd);
	upload_free_bufs(up);
	library_file_unref(up->f);
	up->f = NULL;
	uv_close((uv_handle_t *)&up->pace, upload_pace_closed);
	upload_release_slot(up);
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
	int head = 0;

	b->nunits = 0;
	if (!up->head_sent) {
		course_encode_chunks_head(
		    up->kind, up->nchunk, h, COURSE_CHUNKS_HEAD_LEN);
		b->units[b->nunits++] = n;
		b->iov[n++] = uv_buf_init(h, COURSE_CHUNKS_HEAD_LEN);
		h += COURSE_CHUNKS_HEAD_LEN;
		up->head_sent = 1;
		head = 1;
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
			if (!(head && n == 1))
				b->units[b->nunits++] = n;
			b->iov[n++] = uv_buf_init(h, COURSE_CHUNK_LEN_LEN);
			h += COURSE_CHUNK_LEN_LEN;
		}
		if (seg_end > end)
			seg_end = end;
		if (n == 0)
			b->units[b->nunits++] = n; /* a chunk's continuation */
		b->iov[n++] = uv_buf_init((char *)b->data + (pos - b->off),
		    (unsigned)(seg_end - pos));
		pos = seg_end;
	}
	b->niov = n;
	b->units[b->nunits] = n;
	b->unit_done = 0;
}

static void
upbuf_apply_faults(struct upload *up, struct upbuf *b)
{
	const struct upload_faults *fl = &up->u->opts.faults;
	/* Data bytes of the reply before b (earlier parts may still be in
	 * flight, so not up->sent). */
	uint64_t before = b->off - up->range_start;

	if (fl->corrupt_part >= 0 && (int64_t)b->part == fl->corrupt_part &&
	    b->len > 0)
		b->data[b->len / 2] ^= 0x5a;
	if (fl->close_after >= 0 &&
	    before + b->len > (uint64_t)fl->close_after) {
		uint64_t keep = (uint64_t)fl->close_after > before
		    ? (uint64_t)fl->close_after - before
		    : 0;

		b->len = (size_t)keep;
		up->cut = 1; /* close once this much is out */
	}
}

/*
 * The next write of b: whole units from unit_done on, at most max bytes
 * but at least one unit (max 0: everything left). Returns one past its last
 * unit and stores its length in bytes in *len.
 */
static unsigned
upbuf_slice(const struct upbuf *b, size_t max, size_t *len)
{
	unsigned k = b->unit_done;
	size_t total = 0;

	for (; k < b->nunits; k++) {
		size_t unit = 0;

		for (unsigned i = b->units[k]; i < b->units[k + 1]; i++)
			unit += b->iov[i].len;
		if (max != 0 && total > 0 && total + unit > max)
			break;
		total += unit;
	}
	*len = total;
	return k;
}

static void
upload_pace_done(uv_timer_t *t)
{
	struct upload *up = t->data;

	up->pacing = 0;
	if (up->c == NULL)
		return;
	conn_set_timeout(up->c, up->u->opts.idle_ms);
	upload_send(up);
}

/* Wait delay_ms before the next write. Our own wait is not the peer's
 * idleness: the idle deadline is off meanwhile (it restarts after). */
static void
upload_pace(struct upload *up, uint64_t delay_ms)
{
	up->pacing = 1;
	conn_set_timeout(up->c, 0);
	uv_timer_start(&up->pace, upload_pace_done, delay_ms, 0);
}

/* Every byte of the reply is out: finish, and free the slot at once. */
static void
upload_complete(struct upload *up)
{
	up->completed = 1;
	up->u->stats.completed++;
	conn_finish(up->c);
	upload_free_bufs(up); /* nothing is in flight any more */
	upload_release_slot(up);
}

static void
upbuf_write_done(struct conn *c, void *arg, int status)
{
	struct upbuf *b = arg;
	struct upload *up = b->up;
	struct uploader *u = up->u;
	uint64_t delay = 0;

	(void)c;
	up->writes--;
	b->state = UPBUF_FREE;
	if (status == 0) {
		delay = ratelimit_take(&u->rate, uv_now(u->loop), b->wlen);
		b->unit_done = b->unit_end;
		if (b->unit_done < b->nunits) {
			b->state = UPBUF_READY; /* more slices to come */
		} else {
			up->parts_written++;
			up->send_part++;
			up->sent += b->len;
			u->stats.bytes += b->len;
		}
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
	if (b->state == UPBUF_FREE && up->cut) {
		/* A fault switch cut the upload short. */
		conn_close(up->c, WARREN_ECLOSED);
		return;
	}
	if (up->parts_written == up->parts_total) {
		upload_complete(up);
		return;
	}
	if (delay > 0)
		upload_pace(up, delay);
	upload_pump(up);
	upload_send(up);
}

/*
 * Write the next slice of the next part, if it is read, no write is in
 * flight and the rate limit allows.
 */
static void
upload_send(struct upload *up)
{
	struct uploader *u = up->u;
	struct upbuf *b = NULL;
	uint64_t delay;
	unsigned first, end;
	size_t len;

	if (up->c == NULL || up->failed || up->pacing || up->writes > 0)
		return;
	for (unsigned i = 0; i < UPLOAD_NBUF; i++)
		if (up->bufs[i].state == UPBUF_READY &&
		    up->bufs[i].part == up->send_part)
			b = &up->bufs[i];
	if (b == NULL)
		return;
	if (b->nunits == 0) {
		/* Only a cut (fault switch) leaves a part with nothing. */
		b->state = UPBUF_FREE;
		conn_close(up->c, WARREN_ECLOSED);
		return;
	}
	delay = ratelimit_delay(&u->rate, uv_now(u->loop));
	if (delay > 0) {
		upload_pace(up, delay);
		return;
	}
	end = upbuf_slice(b, u->slice_max, &len);
	first = b->units[b->unit_done];
	b->state = UPBUF_WRITING;
	b->unit_end = end;
	b->wlen = len;
	up->writes++;
	if (conn_writev(up->c, b->iov + first, b->units[end] - first,
		upbuf_write_done, b) != 0) {
		up->writes--;
		b->state = UPBUF_FREE;
		upload_fail(up, WARREN_ECLOSED);
	}
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
	b->state = UPBUF_READY;
	upload_send(up);
	upload_pump(up);
}

/* Start the next read if a buffer is free and no read is in flight. */
static void
upload_pump(struct upload *up)
{
	if (up->failed || up->cut || up->c == NULL || up->jobs > 0 ||
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
 * leaving (a reset, or EOF in the queue) even while we have nothing to
 * write. */
static void
upload_discard(struct conn *c)
{
	conn_consume(c, c->rlen);
}

/*
 * The peer shut down its side. A client that half-closed after its request
 * still reads the reply, so the upload goes on (a peer really gone fails
 * the next write). A failed upload with nothing left to write has no reply
 * to finish: it ends now.
 */
static void
upload_eof(struct conn *c)
{
	struct upload *up = c->owner;

	if (up->failed && c->wpending == 0)
		conn_close(c, UV_EOF);
}

static void
upload_start(struct uploader *u, struct conn *c, const struct library_file *f,
    enum course_kind kind, unsigned long partnum)
{
	struct upload *up = xcalloc(1, sizeof(*up));
	unsigned max_hdrs;
	int err;

	up->u = u;
	up->c = c;
	up->f = library_file_ref(f);
	up->fd = -1;
	up->chunk = u->opts.chunk;
	if (kind == COURSE_RETR) {
		up->kind = COURSE_ARET;
		up->range_start = 0;
		up->range_end = f->size;
		up->chunk_base = 0;
		up->next_part = 0;
		up->end_part = f->nparts;
		err = course_chunk_plan(
		    f->size, u->opts.chunk, &up->chunk, &up->nchunk);
	} else {
		uint64_t start = (uint64_t)partnum * HASH_PART_LEN;

		up->kind = COURSE_AREP;
		up->range_start = start;
		up->range_end = f->size - start < HASH_PART_LEN
		    ? f->size
		    : start + HASH_PART_LEN;
		up->chunk_base = start;
		up->next_part = (uint32_t)partnum;
		up->end_part = up->next_part + 1;
		err = course_chunk_plan(up->range_end - start, u->opts.chunk,
		    &up->chunk, &up->nchunk);
	}
	up->send_part = up->next_part;
	uv_timer_init(u->loop, &up->pace);
	up->pace.data = up;
	u->handles++;
	up->next = u->list;
	if (u->list != NULL)
		u->list->prev = up;
	u->list = up;
	up->has_slot = 1;
	u->stats.active++;
	u->stats.started++;
	c->owner = up;
	c->on_close = upload_conn_closed;
	c->on_read = upload_discard;
	c->on_eof = upload_eof;
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
		b->units = xcalloc((size_t)max_hdrs + 2, sizeof(*b->units));
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
		upload_release_slot(up);
		return;
	}
	upload_pump(up);
}

/* Unlink w from the queue, detach it from its conn and free it. */
static void
upload_wait_remove(struct upload_wait *w)
{
	struct uploader *u = w->u;

	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		u->qhead = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		u->qtail = w->prev;
	u->stats.queued--;
	w->c->owner = NULL;
	w->c->on_close = NULL;
	w->c->on_eof = NULL;
	free(w);
}

static void upload_queue_expire(uv_timer_t *t);

/* Run the queue timer for the oldest waiter, or stop it. */
static void
upload_queue_arm(struct uploader *u)
{
	uint64_t now = uv_now(u->loop);

	if (u->qhead == NULL) {
		uv_timer_stop(&u->qtimer);
		return;
	}
	uv_timer_start(&u->qtimer, upload_queue_expire,
	    u->qhead->deadline_ms > now ? u->qhead->deadline_ms - now : 0, 0);
}

static void
upload_queue_expire(uv_timer_t *t)
{
	struct uploader *u = t->data;
	uint64_t now = uv_now(u->loop);

	while (u->qhead != NULL && u->qhead->deadline_ms <= now) {
		struct conn *c = u->qhead->c;

		upload_wait_remove(u->qhead);
		u->stats.busy++;
		log_debug("no upload slot came in time: Busy");
		upload_refuse(c, COURSE_SAY_BUSY);
	}
	upload_queue_arm(u);
}

/* A queued peer went away (or we closed it). */
static void
upload_wait_closed(struct conn *c, int err)
{
	struct upload_wait *w = c->owner;
	struct uploader *u = w->u;

	log_debug("queued %s request dropped: %s", course_kind_name(w->kind),
	    err ? warren_strerror(err) : "closed");
	upload_wait_remove(w);
	upload_queue_arm(u);
}

/*
 * A queued peer shut down its side. It may have left, or half-closed and
 * still wait for the reply: nothing tells the two apart, and a place in
 * the queue is not held for a peer that may be gone. It leaves the queue
 * at once with the Busy sentence, which a waiting client can act on (not
 * counted as busy: no request was refused for want of room).
 */
static void
upload_wait_eof(struct conn *c)
{
	struct upload_wait *w = c->owner;
	struct uploader *u = w->u;

	log_debug("queued %s request: the peer shut down its side: Busy",
	    course_kind_name(w->kind));
	upload_wait_remove(w);
	upload_queue_arm(u);
	upload_refuse(c, COURSE_SAY_BUSY);
}

static void
upload_enqueue(struct uploader *u, struct conn *c, const struct course_msg *m)
{
	struct upload_wait *w = xcalloc(1, sizeof(*w));

	w->u = u;
	w->c = c;
	w->kind = m->kind;
	memcpy(w->md5, m->md5, sizeof(w->md5));
	w->partnum = m->partnum;
	w->deadline_ms = uv_now(u->loop) + u->opts.queue_timeout_ms;
	w->prev = u->qtail;
	if (u->qtail != NULL)
		u->qtail->next = w;
	else
		u->qhead = w;
	u->qtail = w;
	u->stats.queued++;
	u->stats.queued_total++;
	c->owner = w;
	c->on_close = upload_wait_closed;
	c->on_read = upload_discard;
	c->on_eof = upload_wait_eof;
	conn_resume(c);
	if (u->qhead == w)
		upload_queue_arm(u);
}

/*
 * The shared file a RETR/RETP/HASH asks for, or NULL after answering c
 * with the sentence that says why not.
 */
static const struct library_file *
upload_lookup(struct uploader *u, struct conn *c, enum course_kind kind,
    const char *md5, unsigned long partnum)
{
	const struct library_file *f = library_find(u->lib, md5);

	if (f == NULL) {
		u->stats.not_found++;
		upload_refuse(c, COURSE_SAY_NOTFOUND);
		return NULL;
	}
	if (kind == COURSE_RETP && partnum >= f->nparts) {
		u->stats.not_found++;
		upload_refuse(c, COURSE_SAY_INVALID);
		return NULL;
	}
	return f;
}

/* Start waiters, oldest first, while slots are free. The file is looked up
 * again: it may have changed or gone while they waited. */
static void
upload_queue_run(struct uploader *u)
{
	int changed = 0;

	while (u->qhead != NULL && u->stats.active < u->opts.slots) {
		struct upload_wait *w = u->qhead;
		struct conn *c = w->c;
		enum course_kind kind = w->kind;
		unsigned long partnum = w->partnum;
		char md5[COURSE_MD5_LEN + 1];
		const struct library_file *f;

		memcpy(md5, w->md5, sizeof(md5));
		upload_wait_remove(w);
		changed = 1;
		f = upload_lookup(u, c, kind, md5, partnum);
		if (f != NULL)
			upload_start(u, c, f, kind, partnum);
	}
	if (changed)
		upload_queue_arm(u);
}

void
upload_handle(struct uploader *u, struct conn *c, const struct course_msg *m)
{
	const struct library_file *f;
	char peer[ADDR_STRLEN];

	conn_consume(c, c->rlen);
	addr_format((struct sockaddr *)&c->peer, peer, sizeof(peer));
	log_debug("%s %s from %s", course_kind_name(m->kind), m->md5, peer);
	f = upload_lookup(u, c, m->kind, m->md5, m->partnum);
	if (f == NULL)
		return;
	if (m->kind == COURSE_HASH) {
		upload_send_hash(u, c, f);
		return;
	}
	/* Nobody overtakes the queue. */
	if (u->stats.active < u->opts.slots && u->qhead == NULL) {
		upload_start(u, c, f, m->kind, m->partnum);
		return;
	}
	if (u->stats.queued < u->opts.queue_max) {
		log_debug("every upload slot is taken: %s from %s waits",
		    course_kind_name(m->kind), peer);
		upload_enqueue(u, c, m);
		return;
	}
	u->stats.busy++;
	upload_refuse(c, COURSE_SAY_BUSY);
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
	if (u->opts.queue_timeout_ms == 0)
		u->opts.queue_timeout_ms = 20000;
	if (u->opts.chunk == 0)
		u->opts.chunk = COURSE_CHUNK_DEFAULT;
	if (u->opts.idle_ms == 0)
		u->opts.idle_ms = 30000;
	ratelimit_init(&u->rate, u->opts.rate, uv_now(loop));
	if (u->opts.rate != 0) {
		u->slice_max = u->opts.rate / UPLOAD_SLICES_PER_S;
		if (u->slice_max < UPLOAD_SLICE_MIN)
			u->slice_max = UPLOAD_SLICE_MIN;
		if (u->slice_max >= HASH_PART_LEN)
			u->slice_max = 0; /* a whole part is short enough */
	}
	uv_timer_init(loop, &u->qtimer);
	u->qtimer.data = u;
	u->handles = 1;
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
	while (u->qhead != NULL) {
		struct conn *c = u->qhead->c;

		upload_wait_remove(u->qhead);
		conn_close(c, WARREN_ECANCELED);
	}
	uv_close((uv_handle_t *)&u->qtimer, upload_handle_closed);
	for (up = u->list; up != NULL; up = next) {
		next = up->next;
		up->failed = 1;
		if (up->c != NULL)
			conn_close(up->c, WARREN_ECANCELED);
	}
	upload_maybe_free_server(u);
}
