/*
 * warren: entry point and subcommand table.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char node_help[] =
    "Run a warren node in the foreground: share a folder on the main port\n"
    "(RETR/ARET, RETP/AREP, HASH/AHAS of the course protocol, IPv4 and IPv6),\n"
    "download files for the CLI, and answer the control socket. Logs go to\n"
    "stderr. Stop it with Ctrl-C, SIGTERM or 'warren stop'.\n"
    "\n"
    "Settings come from the INI file (section [node]; default\n"
    "$XDG_CONFIG_HOME/warren/warren.conf if it exists), then from flags.\n"
    "Every setting is a flag of the same name with '-' for '_'.\n"
    "\n"
    "Environment: WARREN_TEST_FAULTS (tests only; refused unless every\n"
    "listen address is loopback): corrupt_part=N, close_after=BYTES, stall.\n";

static const char search_help[] =
    "Search the overlays the node has joined for files whose name contains\n"
    "TERM (ASCII letters in either case; '*' matches every file; at most\n"
    "20 bytes on the course overlays). Hits are printed as they arrive, one\n"
    "row per holder of a file: the result number (the same for every\n"
    "holder of one MD5), MD5, size ('?' when the holder did not say),\n"
    "holder, overlay and name. The node collects hits for a window, then\n"
    "a summary line ends the list; an overlay that failed is named on\n"
    "stderr.\n"
    "\n"
    "  --window SECONDS   how long to collect hits (default: the node's)\n"
    "  --ttl N            how far the query floods, 1 to 99 hops (flooding\n"
    "                     overlays; default: the node's)\n"
    "  --overlay NAME     search this overlay only (e.g. gnutella)\n"
    "  --json             print the node's messages as JSON lines: a 'hit'\n"
    "                     event per holder, 'overlay_done' per overlay,\n"
    "                     then the final reply\n"
    "  -S, --socket PATH  control socket of the node\n"
    "\n"
    "The results are saved in $XDG_CACHE_HOME/warren/last-search.json\n"
    "(default ~/.cache/warren/), so that 'warren get N' downloads result N\n"
    "from the holders found. The node also remembers them: 'warren get MD5'\n"
    "without --from uses them.\n"
    "\n"
    "Example:\n"
    "  warren search --window 3 report\n"
    "  warren get 1\n"
    "\n"
    "Exit status 0 when the search ran, even with no hits; 1 when the node\n"
    "cannot be reached or refuses the search (no overlay joined, term too\n"
    "long, too many searches); 2 on a usage error.\n";

static const char get_help[] =
    "Download a file through the running node. The node writes NAME.part\n"
    "in the download folder, checks the whole-file MD5, and only then\n"
    "renames it to NAME (never over an existing file; NAME (1) etc.).\n"
    "A file whose MD5 does not match is kept aside as NAME.bad.part.\n"
    "\n"
    "The file is an MD5 (32 hex digits) or N, the number of a result of\n"
    "the last 'warren search': then its MD5, name and holders come from\n"
    "that search. Without any source (no --from, not a result number) the\n"
    "node uses the holders its recent searches found, and fails if it\n"
    "knows none.\n"
    "\n"
    "  --from HOST:PORT   a source (repeatable; [v6]:port for IPv6), added\n"
    "                     to those of result N\n"
    "  -o, --output DIR   save into DIR (default: the node's download_dir)\n"
    "  --name NAME        local file name (default: the name the search\n"
    "                     found, else the MD5)\n"
    "  --background       return at once; follow with 'warren downloads'\n"
    "  --wait             keep waiting while no source works (the node\n"
    "                     retries with backoff); default: return with\n"
    "                     status 1 and leave the download to the node\n"
    "  --json             print the node's events as JSON lines\n"
    "  -S, --socket PATH  control socket of the node\n"
    "\n"
    "Parts come from every source at once when they support warren's\n"
    "HASH/RETP extensions (each part checked by SHA-1), else the whole\n"
    "file comes by RETR from one source at a time. Interrupted downloads\n"
    "resume when the node restarts.\n"
    "\n"
    "Examples:\n"
    "  warren get 0f53217fc7c8e7f89e8a8558e64a7083 --from 10.0.0.2:3000\n"
    "  warren search report && warren get 2 --name report.pdf\n"
    "\n"
    "Shows a progress bar when stdout is a terminal, nothing otherwise.\n"
    "Exit status 0 when the file is saved with its MD5 verified; 1 when\n"
    "it is not (no source, no such result, download failed); 2 on a usage\n"
    "error.\n";

static const char status_help[] =
    "Show the running node's state: addresses, shared folder and library\n"
    "counters, uploads, downloads.\n"
    "\n"
    "  --json             the raw status object\n"
    "  -S, --socket PATH  control socket of the node\n";

static const char peers_help[] =
    "List the peers the node knows in each overlay it has joined: address,\n"
    "state (up, unknown or down), origin (configured, or learned from the\n"
    "overlay), recent failures, when it last answered, and messages sent\n"
    "to it. Overlays keep different fields; one an overlay does not keep\n"
    "shows as '-'.\n"
    "\n"
    "  --json             the raw peers object\n"
    "  -S, --socket PATH  control socket of the node\n"
    "\n"
    "Example:\n"
    "  warren peers\n"
    "\n"
    "Exit status 0, also when the node has joined no overlay; 1 when the\n"
    "node cannot be reached.\n";

static const char share_help[] =
    "share ls: list the shared files with their size and MD5. Files whose\n"
    "name is longer than 100 bytes are marked '!': they are hashed and\n"
    "listed but cannot be announced over the course protocols.\n"
    "\n"
    "  --json             one JSON object\n"
    "  -S, --socket PATH  control socket of the node\n";

static const char downloads_help[] =
    "List the node's downloads: state, progress, speed, source.\n"
    "\n"
    "  --json             one JSON object\n"
    "  -S, --socket PATH  control socket of the node\n";

static const char stop_help[] =
    "Stop the running node cleanly (as SIGTERM does).\n"
    "\n"
    "  -S, --socket PATH  control socket of the node\n";

static const char pause_help[] =
    "Pause a download: requests in flight stop, verified parts stay on\n"
    "disk, and the download stays paused across restarts until resumed.\n"
    "\n"
    "  --json             the node's reply\n"
    "  -S, --socket PATH  control socket of the node\n";

static const char resume_help[] =
    "Resume a paused download (or retry a waiting one at once).\n"
    "\n"
    "  --json             the node's reply\n"
    "  -S, --socket PATH  control socket of the node\n";

static const char cancel_help[] =
    "Cancel a download and delete its .part file.\n"
    "\n"
    "  --json             the node's reply\n"
    "  -S, --socket PATH  control socket of the node\n";

static const char directory_help[] =
    "Run the central directory of the napster overlay in the foreground:\n"
    "the course directory protocol (LOGI, ADDF, DELF, FIND, DREG, LOGO;\n"
    "course.md section 5) on --listen (default [::]:3000), over one SQLite\n"
    "database (data_dir/directory.db, WAL). Sessions, files and download\n"
    "counters survive a restart or a kill -9. Logged-in peers that stop\n"
    "answering on their port are probed and dropped with their files.\n"
    "Stops on Ctrl-C or SIGTERM.\n"
    "\n"
    "Settings come from --config FILE ([directory] section) and flags,\n"
    "which win; every setting below is also a flag (--max-results 50).\n"
    "\n"
    "Example:\n"
    "  warren directory --listen 127.0.0.1:3000 --data-dir /var/lib/dir\n";

static const char help_help[] =
    "Without an argument, list the commands. With one, show its page.\n";

const struct cli_cmd cli_cmds[] = {
    {"node", cmd_node, "run a node (foreground)",
	"warren node [--config FILE] [--listen ADDR:PORT]... [--share DIR] "
	"[settings...]",
	node_help},
    {"directory", cmd_directory, "run the central directory (foreground)",
	"warren directory [--config FILE] [--listen ADDR:PORT]... "
	"[settings...]",
	directory_help},
    {"search", cmd_search, "search the overlays for files",
	"warren search [--json] [--window SECONDS] [--ttl N] [--overlay "
	"NAME] TERM",
	search_help},
    {"get", cmd_get, "download a file by MD5 or result number and verify it",
	"warren get MD5|N [--from HOST:PORT]... [-o DIR] [--name NAME] "
	"[--background] [--wait] [--json]",
	get_help},
    {"status", cmd_status, "show the node's state", "warren status [--json]",
	status_help},
    {"peers", cmd_peers, "list the overlay peers the node knows",
	"warren peers [--json]", peers_help},
    {"share", cmd_share, "list shared files", "warren share ls [--json]",
	share_help},
    {"downloads", cmd_downloads, "list downloads", "warren downloads [--json]",
	downloads_help},
    {"pause", cmd_pause, "pause a download", "warren pause ID", pause_help},
    {"resume", cmd_resume, "resume a download", "warren resume ID",
	resume_help},
    {"cancel", cmd_cancel, "cancel a download", "warren cancel ID",
	cancel_help},
    {"stop", cmd_stop, "stop the node", "warren stop", stop_help},
    {"help", cmd_help, "show help for a command", "warren help [COMMAND]",
	help_help},
    {NULL, NULL, NULL, NULL, NULL},
};

const struct cli_cmd *
cli_find(const char *name)
{
	for (const struct cli_cmd *c = cli_cmds; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

void
cli_err(const char *fmt, ...)
{
	va_list ap;

	fputs("warren: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cli_usage(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		fputs("warren: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fprintf(stderr, "usage: %s\n(see 'warren help %s')\n", cmd->usage,
	    cmd->name);
	return CLI_USAGE;
}

int
cli_common_opts(int argc, char **argv, const struct cli_cmd *self, int *json,
    const char **socket, int *first)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"socket", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	*json = 0;
	*socket = NULL;
	optind = 0;
	while ((c = getopt_long(argc, argv, "S:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			*json = 1;
			break;
		case 'S':
			*socket = optarg;
			break;
		case 'h':
			cli_help(stdout, self);
			return CLI_OK;
		default:
			return cli_usage(self, NULL);
		}
	}
	*first = optind;
	return -1;
}

json_t *
cli_simple_call(const char *socket, const char *op, int json)
{
	struct client cl;
	json_t *reply, *result = NULL;

	if (client_open(&cl, client_socket_path(socket)) != 0)
		return NULL;
	reply = client_call(&cl, json_pack("{s:s}", "op", op), 30000);
	client_close(&cl);
	if (reply == NULL)
		return NULL;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		cli_err(
		    "%s", json_string_value(json_object_get(reply, "error")));
		json_decref(reply);
		return NULL;
	}
	result = json_incref(json_object_get(reply, "result"));
	if (json) {
		char *t = json_dumps(result, JSON_INDENT(2) | JSON_SORT_KEYS);

		printf("%s\n", t);
		free(t);
	}
	json_decref(reply);
	return result;
}

static void
main_usage(FILE *f)
{
	fprintf(f,
	    "usage: warren COMMAND [ARGS]\n\n"
	    "warren is a peer-to-peer file-sharing suite. Commands:\n");
	for (const struct cli_cmd *c = cli_cmds; c->name != NULL; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f,
	    "\n'warren help COMMAND' or 'warren COMMAND --help' for "
	    "details.\n");
}

int
main(int argc, char **argv)
{
	const struct cli_cmd *cmd;

	/* A peer or client that goes away must give EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		main_usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		main_usage(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("warren %s\n", WARREN_VERSION);
		return CLI_OK;
	}
	cmd = cli_find(argv[1]);
	if (cmd == NULL) {
		cli_err("unknown command '%s'", argv[1]);
		main_usage(stderr);
		return CLI_USAGE;
	}
	return cmd->run(argc - 1, argv + 1);
}
