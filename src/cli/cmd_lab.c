/*
 * warren lab chord: many chord nodes in one process, on one loop, each on
 * its own loopback address (src/overlay/chord_lab.h), for experiments and
 * benchmarks (bench/chord.py).
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/conf.h"
#include "overlay/chord_lab.h"

int
cmd_lab(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"nodes", required_argument, NULL, 'n'},
	    {"base", required_argument, NULL, 'b'},
	    {"port", required_argument, NULL, 'p'},
	    {"lookups", required_argument, NULL, 'l'},
	    {"kill", required_argument, NULL, 'k'},
	    {"stabilize", required_argument, NULL, 's'},
	    {"fix-fingers", required_argument, NULL, 'f'},
	    {"check-predecessor", required_argument, NULL, 'c'},
	    {"settle", required_argument, NULL, 'S'},
	    {"rest", required_argument, NULL, 'r'},
	    {"seed", required_argument, NULL, 'e'},
	    {"json", no_argument, NULL, 'j'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *self = cli_find("lab");
	struct chord_lab_opts o;
	unsigned long v;
	int c;

	chord_lab_defaults(&o);
	optind = 0;
	if (argc < 2 || strcmp(argv[1], "chord") != 0) {
		if (argc >= 2 &&
		    (strcmp(argv[1], "-h") == 0 ||
			strcmp(argv[1], "--help") == 0)) {
			cli_help(stdout, self);
			return CLI_OK;
		}
		return cli_usage(self, "expected an experiment: chord");
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "hjv", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (conf_uint(optarg, 1, 65536, &v) != 0)
				return cli_usage(self, "--nodes: 1 to 65536");
			o.nodes = (unsigned)v;
			break;
		case 'b':
			if (inet_pton(AF_INET, optarg, &o.base.sin_addr) != 1)
				return cli_usage(self,
				    "--base: an IPv4 address in 127.0.0.0/8");
			break;
		case 'p':
			if (conf_uint(optarg, 1, 65534, &v) != 0)
				return cli_usage(self, "--port: 1 to 65534");
			o.port = (uint16_t)v;
			break;
		case 'l':
			if (conf_uint(optarg, 1, 10000000, &v) != 0)
				return cli_usage(self, "--lookups: 1 or more");
			o.lookups = (unsigned)v;
			break;
		case 'k':
			if (conf_uint(optarg, 0, 99, &v) != 0)
				return cli_usage(self, "--kill: 0 to 99 (%%)");
			o.kill_pct = (unsigned)v;
			break;
		case 's':
		case 'f':
		case 'c':
		case 'S':
		case 'r': {
			uint64_t ms;

			if (conf_seconds(optarg, &ms) != 0)
				return cli_usage(self,
				    "'%s' is not a number of seconds", optarg);
			if (c == 's')
				o.stabilize_ms = ms;
			else if (c == 'f')
				o.fix_fingers_ms = ms;
			else if (c == 'c')
				o.check_predecessor_ms = ms;
			else if (c == 'S')
				o.settle_ms = ms;
			else
				o.rest_ms = ms;
			break;
		}
		case 'e':
			if (conf_uint(optarg, 0, 4294967295UL, &v) != 0)
				return cli_usage(self, "--seed: a number");
			o.seed = v;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'v':
			o.verbose = 1;
			break;
		case 'h':
			cli_help(stdout, self);
			return CLI_OK;
		default:
			return cli_usage(self, NULL);
		}
	}
	if (optind < argc)
		return cli_usage(
		    self, "unexpected argument '%s'", argv[optind]);
	return chord_lab_run(&o) == 0 ? CLI_OK : CLI_FAIL;
}
