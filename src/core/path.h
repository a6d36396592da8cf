/*
 * path.h: small file-system helpers shared by the node, the servers and
 * the CLI.
 */
#ifndef WARREN_CORE_PATH_H
#define WARREN_CORE_PATH_H

#include <sys/types.h>

/*
 * mkdir -p: create path and its missing parents. Parents are created with
 * parent_mode, the last component with mode. 0, or -errno.
 */
int path_mkdirs(const char *path, mode_t parent_mode, mode_t mode);

#endif
