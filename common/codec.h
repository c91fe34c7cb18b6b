/* codec.h - small text codecs shared by the parsers: the value of a base64 character (standard or URL-safe), and
 * lowercase hex. */
#ifndef MRUN_CODEC_H
#define MRUN_CODEC_H

#include <stddef.h>

/* 0-63 for a character of base64 or base64url ('+' and '-' are 62, '/' and '_' are 63), -1 for anything else
 * (padding '=' included). */
static inline int mrun_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Writes 2 * n lowercase hex digits of in, and a NUL, to out (2 * n + 1 bytes). */
static inline void mrun_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

#endif
