#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "report_merge.h"
#include "util.h"

static void help(void)
{
    fputs("usage: ratelab merge REPORT.json [REPORT.json ...] [--json FILE]\n"
          "\n"
          "Merge JSON reports (ratelab sim/live/replay --json) into one, as if one run had\n"
          "made all their requests: counts add, and quantiles come from the reports' merged\n"
          "histograms, so they are those of one run over the union of the requests. Merging\n"
          "one report gives it back unchanged. doc/report.md, \"Merging\", says what happens\n"
          "to each field; reports of live runs and of simulations cannot be mixed.\n"
          "\n"
          "  --json FILE   write the merged report to FILE (default: stdout; '-' = stdout)\n"
          "  --help        this help\n"
          "\n"
          "Exit status: 0 merged; 2 usage error, or an input that is not a ratelab report\n"
          "this version can merge (another report_version or histogram format); 3 a file\n"
          "could not be read or written.\n",
          stdout);
}

/* The whole of a file as a string, or NULL (errno set). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (len < cap - 1)
            break;
        cap *= 2;
        buf = xrealloc(buf, cap);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

int cmd_merge(int argc, char **argv)
{
    const char *json = "-";
    const char **paths = xcalloc((size_t)argc, sizeof *paths);
    int n = 0, rc = EXIT_RUN_OK;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help();
            free(paths);
            return EXIT_RUN_OK;
        }
        if (strcmp(a, "--json") == 0 && i + 1 < argc) {
            json = argv[++i];
        } else if (strncmp(a, "--json=", 7) == 0 && a[7]) {
            json = a + 7;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ratelab merge: unknown option or missing value: %s (see 'ratelab "
                            "merge --help')\n",
                    a);
            free(paths);
            return EXIT_RUN_USAGE;
        } else {
            paths[n++] = a;
        }
    }
    if (n == 0) {
        fprintf(stderr, "ratelab merge: no report to merge (usage: ratelab merge A.json "
                        "[B.json ...] [--json FILE])\n");
        free(paths);
        return EXIT_RUN_USAGE;
    }
    char **texts = xcalloc((size_t)n, sizeof *texts);
    for (int i = 0; i < n && rc == EXIT_RUN_OK; i++) {
        texts[i] = slurp(paths[i]);
        if (!texts[i]) {
            fprintf(stderr, "ratelab merge: cannot read %s: %s\n", paths[i], strerror(errno));
            rc = EXIT_RUN_FAIL;
        }
    }
    if (rc == EXIT_RUN_OK) {
        /* Into memory first: a refused input leaves no half-written FILE behind. */
        char *doc = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&doc, &len);
        char err[512];
        int m = mem ? report_merge(mem, paths, (const char *const *)texts, n, err, sizeof err)
                    : -EIO;
        if (mem && fclose(mem) != 0 && m == 0)
            m = -EIO;
        if (m == -EINVAL) {
            fprintf(stderr, "ratelab merge: %s\n", err);
            rc = EXIT_RUN_USAGE;
        } else if (m < 0) {
            fprintf(stderr, "ratelab merge: out of memory\n");
            rc = EXIT_RUN_FAIL;
        } else {
            FILE *out = strcmp(json, "-") == 0 ? stdout : fopen(json, "w");
            if (!out || fwrite(doc, 1, len, out) != len || fflush(out) != 0) {
                fprintf(stderr, "ratelab merge: cannot write %s: %s\n", json, strerror(errno));
                rc = EXIT_RUN_FAIL;
            }
            if (out && out != stdout && fclose(out) != 0 && rc == EXIT_RUN_OK) {
                fprintf(stderr, "ratelab merge: cannot write %s: %s\n", json, strerror(errno));
                rc = EXIT_RUN_FAIL;
            }
        }
        free(doc);
    }
    for (int i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(paths);
    return rc;
}
