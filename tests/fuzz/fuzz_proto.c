/* fuzz_proto.c - fuzz target for the coordinator <-> runner wire messages (mrun_msg_decode reads hostile bytes).
 * A message that decodes must re-encode, decode again and re-encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* small limits half of the time so the limit paths get exercised too */
    static const mrun_proto_limits small = {4096, 64, 8, 8, 64, 4};
    const mrun_proto_limits *lim = size > 0 && (data[size - 1] & 1) ? &small : NULL;
    mrun_msg m, m2;
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_msg_decode(data, size, lim, &m, &err) < 0) {
        if (err.msg[0] == '\0')
            abort(); /* every failure says why */
        return 0;
    }
    uint8_t *b1 = NULL, *b2 = NULL;
    size_t l1 = 0, l2 = 0;
    if (mrun_msg_encode(&m, &b1, &l1, &err) < 0)
        abort(); /* whatever decodes must encode */
    if (mrun_msg_decode(b1, l1, NULL, &m2, &err) < 0)
        abort(); /* and what we encode must decode */
    if (mrun_msg_encode(&m2, &b2, &l2, &err) < 0 || l1 != l2 || memcmp(b1, b2, l1) != 0)
        abort(); /* and be the same message */
    free(b1);
    free(b2);
    mrun_msg_fini(&m);
    mrun_msg_fini(&m2);
    return 0;
}
