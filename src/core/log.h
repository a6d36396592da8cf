/*
 * Logging to stderr with a level and a subsystem tag. The node logs here;
 * nothing in src/wire/ does.
 */
#ifndef WARREN_CORE_LOG_H
#define WARREN_CORE_LOG_H

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

/* Messages above this level are dropped. Default: LOG_LEVEL_INFO. */
void log_set_level(enum log_level level);
/* Prefix every line with this tag (e.g. a node's address); copied. */
void log_set_tag(const char *tag);
/* 1: one JSON object per line (time, level, tag, msg) instead of text. */
void log_set_json(int on);
int log_parse_level(const char *s, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
