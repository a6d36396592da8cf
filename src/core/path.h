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

/*
 * The i-th candidate for a new file called name in dir, for callers that
 * never replace an existing file: "dir/name" + suffix for i = 0, else
 * "dir/stem (i)ext" + suffix, where ext starts at the last '.' of name
 * that is not its first byte ("a.tar.gz" -> "a.tar (1).gz", ".x" ->
 * ".x (1)"). The caller tries i = 0, 1, 2... with link() or O_EXCL until
 * one does not exist. Returns a new string the caller frees.
 */
char *path_candidate(
    const char *dir, const char *name, unsigned i, const char *suffix);

/*
 * Make *path absolute against the working directory (a relative setting
 * must not change meaning if the process changes directory). *path is
 * replaced by a new string. 0, or -errno.
 */
int path_absolute(char **path);

#endif
