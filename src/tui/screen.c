#include "config.h"

#include "screen.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void screen_init(struct screen *s, int w, int h)
{
    assert(w >= 1 && h >= 1);
    s->w = w;
    s->h = h;
    s->cells = xcalloc((size_t)w * (size_t)h, sizeof *s->cells);
    screen_clear(s);
}

void screen_fini(struct screen *s)
{
    free(s->cells);
    s->cells = NULL;
}

void screen_clear(struct screen *s)
{
    for (int i = 0; i < s->w * s->h; i++) {
        s->cells[i].ch[0] = ' ';
        s->cells[i].ch[1] = '\0';
        s->cells[i].style = SS_NORMAL;
    }
}

void screen_put(struct screen *s, int x, int y, const char *ch, enum screen_style st)
{
    if (x < 0 || y < 0 || x >= s->w || y >= s->h)
        return;
    struct screen_cell *c = &s->cells[y * s->w + x];
    size_t n = strlen(ch);
    if (n == 0 || n >= sizeof c->ch)
        n = 1, ch = "?";
    memcpy(c->ch, ch, n);
    c->ch[n] = '\0';
    c->style = (unsigned char)st;
}

/* Bytes of the UTF-8 character starting with byte b (1 for anything malformed). */
static int utf8_len(unsigned char b)
{
    if (b < 0x80)
        return 1;
    if ((b & 0xe0) == 0xc0)
        return 2;
    if ((b & 0xf0) == 0xe0)
        return 3;
    if ((b & 0xf8) == 0xf0)
        return 4;
    return 1;
}

int screen_text(struct screen *s, int x, int y, int max_w, enum screen_style st, const char *text)
{
    int col = 0;
    for (const char *p = text; *p && col < max_w && x + col < s->w;) {
        int n = utf8_len((unsigned char)*p);
        char ch[5] = {0};
        for (int i = 0; i < n; i++) {
            if (!p[i]) { /* truncated sequence: stop */
                n = i;
                break;
            }
            ch[i] = p[i];
        }
        if (n == 0)
            break;
        if ((unsigned char)ch[0] < 0x20)
            ch[0] = ' ', ch[1] = '\0';
        screen_put(s, x + col, y, ch, st);
        p += n;
        col++;
    }
    return col;
}

int screen_printf(struct screen *s, int x, int y, int max_w, enum screen_style st,
                  const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return screen_text(s, x, y, max_w, st, buf);
}

int screen_dump(const struct screen *s, char *buf, size_t n)
{
    size_t k = 0;
    for (int y = 0; y < s->h; y++) {
        for (int x = 0; x < s->w; x++) {
            const char *ch = s->cells[y * s->w + x].ch;
            size_t l = strlen(ch);
            if (k + l + 2 > n)
                return -1;
            memcpy(buf + k, ch, l);
            k += l;
        }
        buf[k++] = '\n';
    }
    buf[k] = '\0';
    return (int)k;
}
