/**
 * Reads a configuration file the way a parser of untrusted text must: only a regular file, never
 * more than `maxBytes`, and never blocking on a FIFO or a device. The file is opened with
 * `O_NONBLOCK` (a FIFO without a writer opens at once instead of waiting), then `fstat` of the open
 * descriptor decides (no race between a check and the open), and at most `maxBytes + 1` bytes are
 * read, so a file that grows while it is read is still refused. nginx reads whatever `open()`
 * gives; these limits are ours (docs/config.md, "Includes from untrusted text").
 *
 * Errors carry Node's errno `code` where there is one (`ENOENT`, `EACCES`, `EISDIR`, ...), and two
 * of ours: `ENOTREG` (a FIFO, socket or device) and `EFBIG` (larger than `maxBytes`).
 */

import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** The default size cap of one configuration file: nginx's own stock files are a few kB. */
export const MAX_CONFIG_FILE_BYTES = 8 * 1024 * 1024;

/** An error of `readConfigBytes` with an errno-like code. */
export class ReadFileError extends Error {
  constructor(
    message: string,
    readonly code: 'ENOTREG' | 'EFBIG',
    readonly path: string,
  ) {
    super(message);
    this.name = 'ReadFileError';
  }
}

/** The kind of a non-regular file, for messages. */
function kindOf(st: import('node:fs').Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * The bytes of the regular file `path`, at most `maxBytes` long. Throws Node's open errors
 * (`ENOENT`, `EACCES`, ...), `EISDIR` for a directory, `ReadFileError` `ENOTREG` for a FIFO, socket
 * or device, and `ReadFileError` `EFBIG` for a file larger than `maxBytes`. The parser takes bytes
 * as nginx does: a byte that is not UTF-8 counts once towards nginx's
 * 4096-byte token buffer, where its decoded replacement character would count three times.
 */
export function readConfigBytes(path: string, maxBytes: number = MAX_CONFIG_FILE_BYTES): Uint8Array {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${path}'`), { code: 'EISDIR', path });
    if (!st.isFile()) throw new ReadFileError(`${path} is ${kindOf(st)}, not a regular file`, 'ENOTREG', path);
    if (st.size > maxBytes) throw new ReadFileError(`${path} is ${st.size} bytes, more than the limit of ${maxBytes}`, 'EFBIG', path);
    let buf = Buffer.allocUnsafe(Math.min(st.size, maxBytes) + 1);
    let used = 0;
    for (;;) {
      if (used === buf.length) {
        const grown = Buffer.allocUnsafe(Math.min(buf.length * 2, maxBytes + 1));
        buf.copy(grown, 0, 0, used);
        buf = grown;
      }
      const n = readSync(fd, buf, used, buf.length - used, null);
      if (n === 0) break;
      used += n;
      if (used > maxBytes) throw new ReadFileError(`${path} grew past the limit of ${maxBytes} bytes while being read`, 'EFBIG', path);
    }
    return buf.subarray(0, used);
  } finally {
    closeSync(fd);
  }
}
