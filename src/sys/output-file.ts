// Writing a small file the user named (--digestfile). open(2) for writing of a FIFO waits for a reader, in a
// pool thread no signal reaches; O_NONBLOCK makes that open fail at once (ENXIO) when nobody reads, and lets a
// FIFO that is being read, or a terminal, through (a socket cannot be opened at all: ENXIO too).
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import { S2IError } from '../errors.js';

const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NONBLOCK;

/** Writes `data` to `file` (created 0644 before the umask); ERR_OUTPUT_FILE, one line, when it cannot. */
export async function writeOutputFile(file: string, data: string | Buffer, what = 'output file'): Promise<void> {
  let fh;
  try {
    fh = await fs.open(file, flags, 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENXIO' ? 'a socket, or a FIFO nobody reads' : code === 'EISDIR' ? 'a directory' : (code ?? (e as Error).message);
    throw new S2IError('ERR_OUTPUT_FILE', `cannot write the ${what} ${file}: ${why}; give a file path`, { cause: e });
  }
  try {
    await fh.writeFile(data);
  } finally {
    await fh.close();
  }
}
