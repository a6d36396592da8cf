/*
 * warren_strerror(): one place that names every error a warren function can
 * return, project codes and negative errno values alike.
 */
#include <string.h>

#include "warren/error.h"

const char *
warren_strerror(int err)
{
	switch ((enum warren_err)err) {
	case WARREN_EKIND:
		return "unknown message kind";
	case WARREN_ELENGTH:
		return "wrong message length";
	case WARREN_EFIELD:
		return "malformed field";
	case WARREN_ETOOLONG:
		return "value too long for its field";
	case WARREN_ELIMIT:
		return "count exceeds limit";
	case WARREN_EMD5:
		return "MD5 mismatch";
	case WARREN_ENOTFOUND:
		return "file not available from this peer";
	case WARREN_EBUSY:
		return "peer busy: too many transfers";
	case WARREN_EREFUSED:
		return "request refused by peer";
	case WARREN_ECLOSED:
		return "peer closed the connection early";
	case WARREN_ESPACE:
		return "buffer too small";
	case WARREN_ECHANGED:
		return "file changed on disk";
	case WARREN_ESHA1:
		return "SHA-1 mismatch";
	case WARREN_ECONFIG:
		return "invalid configuration";
	case WARREN_EEMPTY:
		return "empty value";
	case WARREN_EPROTO:
		return "protocol error";
	case WARREN_ECANCELED:
		return "cancelled";
	case WARREN_EAUTH:
		return "not authorized (unknown session or bad credentials)";
	}
	if (err == -4095) /* libuv's UV_EOF, not an errno */
		return "connection closed by the peer";
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}
