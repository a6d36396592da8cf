/*
 * cli.h: the warren command. One file per subcommand (cmd_*.c); every
 * subcommand other than the servers is a client of a running node over its
 * control socket (client.c). Exit codes: 0 ok, 1 failure, 2 usage.
 */
#ifndef WARREN_CLI_CLI_H
#define WARREN_CLI_CLI_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_OK    0
#define CLI_FAIL  1
#define CLI_USAGE 2

struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary; /* one line for `warren help` */
	const char *usage;   /* synopsis */
	const char *help;    /* the page for `warren help NAME` / --help */
};

extern const struct cli_cmd cli_cmds[];
const struct cli_cmd *cli_find(const char *name);
/* Print the command's help page to f. */
void cli_help(FILE *f, const struct cli_cmd *cmd);
/* Print "warren: " + message to stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the usage line and a hint to stderr; returns CLI_USAGE. */
int cli_usage(const struct cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Parse the options every client command shares (--json, -S/--socket,
 * -h/--help). Returns -1 to go on (operands start at *first), or the exit
 * code to return at once (help shown, or a usage error).
 */
int cli_common_opts(int argc, char **argv, const struct cli_cmd *self,
    int *json, const char **socket, int *first);

/*
 * A server command (directory, introducer): its settings, and how to set,
 * load, check and run its configuration (cfg is the server's own struct).
 */
struct config_key;
struct cli_server {
	const char *name; /* command name, for help and usage */
	const struct config_key *keys;
	void *cfg;
	int (*set)(void *cfg, const char *key, const char *value, char *err,
	    size_t errlen);
	int (*finish)(void *cfg, char *err, size_t errlen);
	int (*run)(void *cfg);
};

/* Parse --config FILE (its [name] section, other sections ignored),
 * --help, --json and the settings' flags, then run. Exit code. */
int cli_server_main(const struct cli_server *s, int argc, char **argv);

/* Connect, send {"op": op}, print the JSON reply with --json, and return
 * the "result" (own reference) or NULL after printing the error. */
json_t *cli_simple_call(const char *socket, const char *op, int json);

int cmd_node(int argc, char **argv);
int cmd_directory(int argc, char **argv);
int cmd_introducer(int argc, char **argv);
int cmd_lab(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_peers(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_share(int argc, char **argv);
int cmd_downloads(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_help(int argc, char **argv);

/* ---- client.c: the control socket --------------------------------------- */

struct client {
	int fd;
	char *buf; /* CTL_LINE_MAX * 4 */
	size_t len;
	const char *path;
	int next_id;
};

/* Socket path: --socket value, else $WARREN_SOCKET, else the default. */
const char *client_socket_path(const char *flag);

/* Connect and read the node's hello. Prints a clear error on failure. */
int client_open(struct client *c, const char *path);
void client_close(struct client *c);

/* Send req (an "id" is added; the reference is stolen). Returns the id or
 * -1 (error printed). */
int client_send(struct client *c, json_t *req);

/* Next message from the node, or NULL on timeout/EOF (error printed).
 * timeout_ms < 0 waits as long as the node keeps the socket open. */
json_t *client_recv(struct client *c, int timeout_ms);

/* Send {"op": op} plus fields and wait for the final reply. Returns the
 * reply object (caller decrefs) or NULL (error printed). */
json_t *client_call(struct client *c, json_t *req, int timeout_ms);

/* ---- cmd_get.c, cmd_search.c: requests that stream events -------------- */

/*
 * The next message for request id (messages for other ids are dropped),
 * printed on stdout as one JSON line when json is set. Returns a new
 * reference, or NULL on timeout/EOF (error printed).
 */
json_t *cmd_get_next(struct client *cl, int id, int json, int timeout_ms);

/*
 * Result n of the last 'warren search' (saved in $XDG_CACHE_HOME/warren/
 * last-search.json): {"n","md5","name","size","sources":[source]}, a new
 * reference the caller decrefs; NULL after printing why there is none.
 */
json_t *cmd_search_result(unsigned long n);

/* ---- progress.c ----------------------------------------------------------- */

/* "12.3 MiB" style. */
void fmt_bytes(uint64_t n, char *out, size_t cap);
/* "1:02:03" or "2:03"; "--:--" when unknown. */
void fmt_duration(double seconds, char *out, size_t cap);

/* Draw one progress line on f (a terminal), replacing the previous one. */
void progress_draw(FILE *f, const char *name, uint64_t bytes, uint64_t size,
    int size_known, double rate, unsigned active, unsigned sources,
    const char *state);
/* End the progress line. */
void progress_end(FILE *f);

#endif
