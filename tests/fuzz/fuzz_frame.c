/*
 * fuzz_frame.c - libFuzzer target for the local API frame decoder (the
 * first code that sees a client's bytes): ferry_frame_size,
 * ferry_frame_decode and ferry_fields_parse on arbitrary input, walking it
 * frame by frame as ferryd does.  Also re-encodes what decoded, to check
 * the encoder accepts every decoded string.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[FERRY_FRAME_MAX + 4];

	while (size > 0) {
		struct ferry_frame f;
		struct ferry_fields fl;
		const char *why = NULL;
		size_t total;

		if (ferry_frame_size(data, size, &total) != 0 || total > size)
			return 0;
		/* Decode from an exact-size copy so overreads are caught. */
		{
			uint8_t *copy = malloc(total);
			if (copy == NULL)
				return 0;
			memcpy(copy, data, total);
			if (ferry_frame_decode(copy, total, &f) == 0 &&
			    f.type != FERRY_F_DATA &&
			    ferry_fields_parse(&f, &fl, &why) == 0) {
				struct ferry_fbuf b;
				struct ferry_msg m;
				size_t len;
				ferry_fields_to_msg(&fl, &m);
				ferry_fbuf_begin(&b, out, sizeof(out), f.type,
						 f.flags, f.reqid);
				ferry_fbuf_msg(&b, &m);
				ferry_fbuf_str(&b, FERRY_T_QUEUE, fl.queue);
				ferry_fbuf_str(&b, FERRY_T_TEXT, fl.text);
				if (fl.payload != NULL)
					ferry_fbuf_bytes(&b, FERRY_T_PAYLOAD,
							 fl.payload,
							 fl.payload_len_inline);
				if (ferry_fbuf_end(&b, &len) != 0 && !b.over)
					abort();
			}
			free(copy);
		}
		data += total;
		size -= total;
	}
	return 0;
}
