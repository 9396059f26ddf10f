/*
 * crc32c.h - CRC-32C (Castagnoli, RFC 3720 appendix B.4), the checksum of
 * the spool's journal records.  Pure; crc32c(0, "123456789", 9) is
 * 0xe3069283.
 */
#ifndef SUBMITD_CRC32C_H
#define SUBMITD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc (0 to start) over len octets. */
uint32_t	crc32c(uint32_t crc, const void *buf, size_t len);

#endif
