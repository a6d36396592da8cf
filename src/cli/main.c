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
    "  --json             log one JSON object per line on stderr instead of\n"
    "                     text: {\"time\" (UTC), \"level\", \"msg\"}\n"
    "\n"
    "Environment: WARREN_TEST_FAULTS (tests only; refused unless every\n"
    "listen address is loopback): corrupt_part=N, close_after=BYTES, stall.\n";

static const char search_help[] =
    "Search every overlay the node has joined for files whose name contains\n"
    "TERM (ASCII letters in either case; '*' matches every file; at most\n"
    "20 bytes on the course overlays). The hits of all overlays are merged\n"
    "into one row per file (MD5): result number, MD5 (8 digits; all 32\n"
    "with --long), size ('?' when no holder told it), SRC (distinct\n"
    "holders), the overlays that found it, and the name (the one most\n"
    "holders gave; on a tie the first seen). Rows are ordered by SRC,\n"
    "most first, then by name.\n"
    "\n"
    "On a terminal the table is redrawn in place as hits arrive (the first\n"
    "rows that fit, at most 20, and a status line); when every overlay's\n"
    "window has closed, the whole table is printed. When stdout is not a\n"
    "terminal nothing is printed until then: the final table alone, for\n"
    "scripts. A summary line ends it:\n"
    "  4 files from 3 sources in 3.0 s (gnutella: 5 hits, kazaa: 2)\n"
    "and an overlay that failed is named on stderr.\n"
    "\n"
    "  --window SECONDS   how long to collect hits (default: the node's)\n"
    "  --ttl N            how far the query floods, 1 to 99 hops (flooding\n"
    "                     overlays; default: the node's)\n"
    "  --overlay NAME     search this overlay only (chord, gnutella,\n"
    "                     kazaa, napster)\n"
    "  --min-size BYTES   only files of at least BYTES; K, M, G suffixes\n"
    "                     (1K = 1024)\n"
    "  --max-size BYTES   only files of at most BYTES\n"
    "  --ext EXT          only names ending in .EXT (either case; 'mp3' or\n"
    "                     '.mp3'); repeatable: any of them\n"
    "  --long             full MD5 and sizes in bytes\n"
    "  --json             print the node's messages as JSON lines: a 'hit'\n"
    "                     event per holder (filters apply to each hit),\n"
    "                     'overlay_done' per overlay, and last the node's\n"
    "                     final reply (its counts include every hit)\n"
    "  -S, --socket PATH  control socket of the node\n"
    "\n"
    "Filters apply here, not at the node. A file whose size is unknown (no\n"
    "holder told it, as on the course overlays) is kept and shown as '?',\n"
    "unless --min-size or --max-size is given: then it is left out. The\n"
    "summary counts the files left out.\n"
    "\n"
    "The rows of the final table are saved, numbered as shown, in\n"
    "$XDG_CACHE_HOME/warren/last-search.json (default ~/.cache/warren/),\n"
    "so that 'warren get N' downloads result N from the holders found. The\n"
    "node also remembers them: 'warren get MD5' without --from uses them.\n"
    "\n"
    "Example:\n"
    "  warren search --window 3 --ext mp3 --min-size 1M song\n"
    "   #  MD5       SIZE     SRC  OVERLAYS        NAME\n"
    "   1  0f53217f  4.1 MiB    3  gnutella,kazaa  Song_One.mp3\n"
    "   2  c7ddd84f  3.0 MiB    1  napster         other_song.mp3\n"
    "  2 files from 4 sources in 3.0 s (gnutella: 2 hits, kazaa: 1, ...)\n"
    "  warren get 1\n"
    "\n"
    "Exit status 0 when the search ran, even with no hits; 1 when the node\n"
    "cannot be reached or refuses the search (no overlay joined, term too\n"
    "long, too many searches); 2 on a usage error.\n";

static const char ls_help[] =
    "Without --all: the files this node shares, as 'warren share ls'.\n"
    "\n"
    "With --all: every file the node's overlays can list, found with the\n"
    "search term '*' and shown as 'warren search' shows results (one row\n"
    "per MD5 with its holders, numbered for 'warren get N'). Each overlay\n"
    "lists what it can reach: chord walks the ring (LIST at every node,\n"
    "chord.md section 3.7; bounded by chord walk_max_nodes and\n"
    "walk_timeout, never endless), napster asks the directory, gnutella\n"
    "floods '*' as far as its TTL, kazaa asks the supernodes.\n"
    "\n"
    "  -a, --all          every file of the overlays, not only this node's\n"
    "  --overlay NAME     one overlay only (chord, gnutella, kazaa, napster)\n"
    "  --window SECONDS, --ttl N, --min-size, --max-size, --ext, --long\n"
    "                     as for 'warren search'\n"
    "  --json             JSON (as 'warren share ls --json', or as\n"
    "                     'warren search --json' with --all)\n"
    "  -S, --socket PATH  control socket of the node\n"
    "\n"
    "Example:\n"
    "  warren ls --all --overlay chord\n"
    "\n"
    "Exit status 0 when the listing ran (even empty), 1 when the node\n"
    "cannot be reached or refuses, 2 on a usage error.\n";

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
    "Show the running node on one screen (80 columns):\n"
    "  - the node: version, pid, uptime, listen addresses, control socket;\n"
    "  - the library: shared folder, files and bytes listed, hashing\n"
    "    progress (files still to hash, hashed this run, taken from the\n"
    "    cache), unreadable files, names too long to announce;\n"
    "  - transfers: uploads active of the slots, queued, done, failed,\n"
    "    refused; downloads by state, with their total rate while any is\n"
    "    receiving;\n"
    "  - each overlay joined: its role and port, its health, and short\n"
    "    counters. gnutella: neighbours up (degraded below min_neighbours),\n"
    "    up/unknown/down, searches, floods in, forwarded and dropped,\n"
    "    answers. kazaa peer: its supernode and session; kazaa supernode:\n"
    "    children, files indexed, friends. napster: directory, state\n"
    "    ('ok' when ready), session, files published, requests queued,\n"
    "    the directory's last error. chord: ring port and state, id,\n"
    "    predecessor, successors, finger fill, records stored, lookups\n"
    "    with mean hops, failed requests and timeouts. Another overlay:\n"
    "    its scalar fields as key=value.\n"
    "\n"
    "  --json             the raw status object (docs/control-api.md)\n"
    "  -S, --socket PATH  control socket of the node\n"
    "\n"
    "Example:\n"
    "  warren status\n"
    "  warren node 0.1.0 (pid 4321), up 1:02:03\n"
    "    listening   10.0.0.2:3000\n"
    "    ...\n"
    "    gnutella    node on port 3000: ok, 3 neighbours up\n"
    "                neighbours 3 up, 1 unknown, 0 down, max 8; ...\n"
    "\n"
    "Exit status 0; 1 when the node cannot be reached.\n";

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
    "share add FILE...: share files from elsewhere on this machine. Each\n"
    "FILE is copied into the node's shared folder (the original is not\n"
    "touched), hashed, and published on every overlay the node has\n"
    "joined, so that 'warren search' on other nodes finds it. The copy is\n"
    "written under a hidden temporary name and renamed when complete: a\n"
    "half-copied file is never shared. With --link the file is hard-linked\n"
    "instead: no second copy on disk, but FILE and the shared folder must\n"
    "be on one file system, and a later change to FILE changes the shared\n"
    "file. A symbolic link is followed. A FILE already in the shared\n"
    "folder is left where it is. Several FILEs are added one after the\n"
    "other; one that fails does not stop the others.\n"
    "\n"
    "An existing file is never replaced: when NAME is taken the file\n"
    "becomes 'NAME (1)', 'NAME (2)'... (before the extension:\n"
    "'song (1).mp3'). A name with '/', '.', '..', a control character,\n"
    "a leading '.' or the suffix '.part' is refused: the library would\n"
    "not share it.\n"
    "\n"
    "Each FILE gets a line once the node has hashed it:\n"
    "  shared song.mp3 (0f53217fc7c8e7f89e8a8558e64a7083, 4.1 MiB)\n"
    "A file still hashing after 60 s is reported without its MD5; 'warren\n"
    "share ls' lists it when done.\n"
    "\n"
    "  --link             add: hard-link instead of copying\n"
    "  --name NAME        add: the name in the shared folder (default:\n"
    "                     FILE's own); only with one FILE\n"
    "  --json             ls: one JSON object; add: one JSON line per FILE,\n"
    "                     {\"file\", \"ok\", \"result\" or \"error\"}\n"
    "  -S, --socket PATH  control socket of the node\n"
    "\n"
    "Examples:\n"
    "  warren share add ~/Music/song.mp3 report.pdf\n"
    "  warren share add --link --name talk.mkv /srv/video/2024-talk.mkv\n"
    "\n"
    "Exit status 0 when the list is shown or every FILE is shared; 1 when\n"
    "a FILE is not (no such file, not a regular file, unreadable, bad\n"
    "name, copy or link failed) or the node cannot be reached; 2 on a\n"
    "usage error.\n";

static const char downloads_help[] =
    "List the node's downloads: state, progress, speed, and per source\n"
    "its state, protocol (retp or retr), bytes, speed, round-trip time,\n"
    "good and bad parts, the overlays whose searches found it ('via'),\n"
    "and its last error.\n"
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
    "  --json             log one JSON object per line on stderr instead of\n"
    "                     text: {\"time\" (UTC), \"level\", \"msg\"}\n"
    "\n"
    "Example:\n"
    "  warren directory --listen 127.0.0.1:3000 --data-dir /var/lib/dir\n";

static const char introducer_help[] =
    "Run the introducer of the chord overlay in the foreground: the\n"
    "bootstrap server new ring members ask for a first member (chord.md\n"
    "section 2) on --listen (default [::]:7494, dual-stack). JOIN <id> <ip>\n"
    "<port> registers a node and answers up to 5 other nodes, most recently\n"
    "seen first; DELETE <id> removes it. The table lives in one SQLite\n"
    "database (data_dir/introducer.db, WAL) and survives a restart or a\n"
    "kill -9. Every check_interval, rows not seen for check_after are\n"
    "checked by connecting to them; a row whose node does not accept\n"
    "max_failures checks in a row is removed, and so is a row not seen for\n"
    "expire_after. Stops on Ctrl-C or SIGTERM.\n"
    "\n"
    "Settings come from --config FILE ([introducer] section) and flags,\n"
    "which win; every setting below is also a flag (--check-after 300).\n"
    "\n"
    "  --json             log one JSON object per line on stderr instead of\n"
    "                     text: {\"time\" (UTC), \"level\", \"msg\"}\n"
    "\n"
    "Example:\n"
    "  warren introducer --listen 127.0.0.1:7494 --data-dir /var/lib/intro\n";

static const char lab_help[] =
    "Run many chord nodes in one process, on one event loop, each on its\n"
    "own loopback address (--base, then the next ones; default\n"
    "127.0.50.1), and measure the ring: the nodes join a growing ring\n"
    "through nodes already in it; once it is consistent and the fingers\n"
    "are right, --lookups lookups of random ids from random nodes (right\n"
    "when they name the true successor; hops counted), the requests per\n"
    "node per second at rest with the default timers, then --kill percent\n"
    "of the nodes stop at once: lookups again at once, and after the ring\n"
    "has repaired itself. The nodes share no files.\n"
    "\n"
    "  --nodes N                ring size (default 64)\n"
    "  --base ADDR              first node's address, in 127.0.0.0/8\n"
    "  --port N                 ring port of every node (default 7495)\n"
    "  --lookups N              per measurement (default 1000)\n"
    "  --kill PCT               nodes stopped at once (default 25)\n"
    "  --stabilize, --fix-fingers, --check-predecessor SECONDS\n"
    "                           timers while the ring forms and repairs\n"
    "                           (default 1, 0.5, 2)\n"
    "  --settle SECONDS         longest wait for a consistent ring (300)\n"
    "  --rest SECONDS           message count window (default 10)\n"
    "  --seed N                 order, lookups and victims (default 1)\n"
    "  --json                   the results as one JSON object\n"
    "  --verbose                the ring's progress and the nodes' logs\n"
    "                           on stderr\n"
    "\n"
    "Example:\n"
    "  warren lab chord --nodes 256 --base 127.0.50.1\n";

static const char help_help[] =
    "Without an argument, list the commands. With one, show its page:\n"
    "synopsis, description, options, settings and exit status.\n"
    "\n"
    "  --json             the same as JSON: an object {name, summary,\n"
    "                     usage, help} for COMMAND, or a list of them\n";

const struct cli_cmd cli_cmds[] = {
    {"node", cmd_node, "run a node (foreground)",
	"warren node [--config FILE] [--listen ADDR:PORT]... [--share DIR] "
	"[settings...]",
	node_help},
    {"directory", cmd_directory, "run the central directory (foreground)",
	"warren directory [--config FILE] [--listen ADDR:PORT]... "
	"[settings...]",
	directory_help},
    {"introducer", cmd_introducer, "run the chord introducer (foreground)",
	"warren introducer [--config FILE] [--listen ADDR:PORT]... "
	"[settings...]",
	introducer_help},
    {"lab", cmd_lab, "many chord nodes in one process (experiments)",
	"warren lab chord [--nodes N] [--base ADDR] [--lookups N] "
	"[--kill PCT] [--json] [settings...]",
	lab_help},
    {"ls", cmd_ls, "list shared files, or every file (--all)",
	"warren ls [--all] [--overlay NAME] [--json]", ls_help},
    {"search", cmd_search, "search the overlays for files",
	"warren search [--window SECONDS] [--ttl N] [--overlay NAME] "
	"[--min-size BYTES] [--max-size BYTES] [--ext EXT]... [--long] "
	"[--json] TERM",
	search_help},
    {"get", cmd_get, "download a file by MD5 or result number and verify it",
	"warren get MD5|N [--from HOST:PORT]... [-o DIR] [--name NAME] "
	"[--background] [--wait] [--json]",
	get_help},
    {"status", cmd_status, "show the node's state", "warren status [--json]",
	status_help},
    {"peers", cmd_peers, "list the overlay peers the node knows",
	"warren peers [--json]", peers_help},
    {"share", cmd_share, "list shared files, or add files to share",
	"warren share ls [--json]\n"
	"    warren share add [--link] [--name NAME] [--json] FILE...",
	share_help},
    {"downloads", cmd_downloads, "list downloads", "warren downloads [--json]",
	downloads_help},
    {"pause", cmd_pause, "pause a download", "warren pause ID", pause_help},
    {"resume", cmd_resume, "resume a download", "warren resume ID",
	resume_help},
    {"cancel", cmd_cancel, "cancel a download", "warren cancel ID",
	cancel_help},
    {"stop", cmd_stop, "stop the node", "warren stop", stop_help},
    {"help", cmd_help, "show help for a command",
	"warren help [--json] [COMMAND]", help_help},
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
