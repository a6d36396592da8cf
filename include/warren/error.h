/*
 * warren's own error codes. System errors travel as negative errno values
 * (the same numbers as libuv's UV_E*); project errors are negative numbers
 * well below any errno so the two never collide. warren_strerror() in
 * src/core/error.c names both.
 *
 * This header includes nothing so that src/wire/ can use it and still
 * depend on libc alone.
 */
#ifndef WARREN_ERROR_H
#define WARREN_ERROR_H

enum warren_err {
	WARREN_EKIND = -10001,     /* unknown message kind */
	WARREN_ELENGTH = -10002,   /* wrong message length */
	WARREN_EFIELD = -10003,    /* a field failed validation */
	WARREN_ETOOLONG = -10004,  /* value does not fit its field */
	WARREN_ELIMIT = -10005,    /* a count exceeds a configured limit */
	WARREN_EMD5 = -10006,      /* data does not match the announced md5 */
	WARREN_ENOTFOUND = -10007, /* peer does not have the file */
	WARREN_EBUSY = -10008,     /* peer has no free upload slot */
	WARREN_EREFUSED = -10009,  /* peer answered with an error sentence */
	WARREN_ECLOSED = -10010, /* peer closed before the reply was complete */
	WARREN_ESPACE = -10011,  /* output buffer too small */
	WARREN_ECHANGED = -10012,  /* file changed on disk while being served */
	WARREN_ESHA1 = -10013,     /* part does not match its SHA-1 */
	WARREN_ECONFIG = -10014,   /* invalid configuration */
	WARREN_EEMPTY = -10015,    /* empty value where one is required */
	WARREN_EPROTO = -10016,    /* other protocol violation */
	WARREN_ECANCELED = -10017, /* operation cancelled by the user */
	WARREN_EAUTH = -10018,     /* unknown session or bad credentials */
};

const char *warren_strerror(int err);

#endif
