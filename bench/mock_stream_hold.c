/*
 * mock_stream_hold: open N streaming chat completions against a server and
 * hold them, reading every chunk, for a while; print progress once a second.
 * A benchmark client for bench/mock_streams.sh, not part of ratelab.
 *
 *   cc -O2 -o mock_stream_hold bench/mock_stream_hold.c
 *   ./mock_stream_hold HOST PORT CONNECTIONS SECONDS
 *
 * Output, once a second: "t=S open=N streaming=N done=N failed=N MB=X events=N".
 * A connection counts as streaming once its 200 header arrived. Exit 0 when
 * every connection was streaming at the end, 1 otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    int sent;      /* request bytes written */
    int streaming; /* saw "HTTP/1.1 200" */
    int done;      /* saw data: [DONE] or EOF */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s HOST PORT CONNECTIONS SECONDS\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), n = atoi(argv[3]);
    double hold = atof(argv[4]);
    static const char body[] = "{\"model\":\"bench\",\"stream\":true,\"max_tokens\":100000,"
                               "\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a long "
                               "story.\"}]}";
    char req[512];
    int reqlen = snprintf(req, sizeof req,
                          "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\n"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                          host, sizeof body - 1, body);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    struct conn *c = calloc((size_t)n, sizeof *c);
    int ep = epoll_create1(0);
    int opened = 0, streaming = 0, done = 0, failed = 0;
    long long bytes = 0, events = 0;
    double t0 = now_s(), last = t0, all_open_at = 0;
    char buf[65536];
    struct epoll_event evs[1024];
    for (;;) {
        /* Open connections in steps of 200 per turn so the accept queue keeps up. */
        for (int k = 0; k < 200 && opened < n; k++, opened++) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (fd < 0) {
                perror("socket");
                return 1;
            }
            c[opened].fd = fd;
            connect(fd, (struct sockaddr *)&sa, sizeof sa);
            struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)opened};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
        }
        int m = epoll_wait(ep, evs, 1024, 100);
        for (int i = 0; i < m; i++) {
            struct conn *x = &c[evs[i].data.u32];
            if (x->done)
                continue;
            if ((evs[i].events & EPOLLOUT) && x->sent < reqlen) {
                ssize_t w = write(x->fd, req + x->sent, (size_t)(reqlen - x->sent));
                if (w > 0)
                    x->sent += (int)w;
                if (x->sent == reqlen) {
                    struct epoll_event e = {.events = EPOLLIN, .data.u32 = evs[i].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &e);
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = read(x->fd, buf, sizeof buf);
                if (r > 0) {
                    bytes += r;
                    if (!x->streaming && r >= 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0) {
                        x->streaming = 1;
                        streaming++;
                    }
                    for (char *p = buf; (p = memmem(p, (size_t)(buf + r - p), "data: ", 6)); p += 6)
                        events++;
                } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    x->done = 1;
                    done++;
                    if (x->streaming)
                        streaming--;
                    else
                        failed++;
                    epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
                    close(x->fd);
                }
            }
        }
        double t = now_s();
        if (!all_open_at && streaming == n)
            all_open_at = t;
        if (t - last >= 1) {
            last = t;
            printf("t=%.0f open=%d streaming=%d done=%d failed=%d MB=%.1f events=%lld\n", t - t0,
                   opened - done, streaming, done, failed, (double)bytes / 1e6, events);
            fflush(stdout);
        }
        if (all_open_at && t - all_open_at >= hold)
            break;
        if (t - t0 > hold + 120) {
            fprintf(stderr, "gave up: only %d of %d streaming\n", streaming, n);
            break;
        }
    }
    int ok = streaming == n;
    printf("end: %d of %d streams held for %.0f s, %lld events, %.1f MB\n", streaming, n, hold,
           events, (double)bytes / 1e6);
    for (int i = 0; i < n; i++)
        if (!c[i].done)
            close(c[i].fd);
    free(c);
    close(ep);
    return ok ? 0 : 1;
}
