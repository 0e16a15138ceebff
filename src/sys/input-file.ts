// Opening a file the user named (an archive, an env file, a config file, a layout's index) for reading, refusing
// anything that is not a regular file before reading a byte. Why not open(2) and look afterwards: open of a FIFO
// blocks until a writer appears, in a libuv pool thread that neither SIGTERM nor an AbortSignal can reach, and a
// character device such as /dev/zero reads forever. O_NONBLOCK makes the open itself return at once (for a
// regular file it changes nothing), fstat on the descriptor then decides, with no window for a path swap.
import { closeSync, constants, fstatSync, openSync, readFileSync, type Stats } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import { S2IError, type ErrorCode } from '../errors.js';

const flags = constants.O_RDONLY | constants.O_NONBLOCK;

/** What a non-regular file is, in words for an error message. */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

export interface InputFileOptions {
  /** Names the file in the message, e.g. "environment file"; default "input file". */
  what?: string;
  /** S2IError code; default ERR_NOT_A_FILE. */
  code?: ErrorCode;
}

function refuse(file: string, kind: string, opts: InputFileOptions): S2IError {
  return new S2IError(opts.code ?? 'ERR_NOT_A_FILE', `${opts.what ?? 'input file'} ${file} is ${kind}, not a regular file; give the path of a file`);
}

/** open(2) of a socket fails with ENXIO; say what it is rather than "no such device or address". */
async function kindOnOpenError(file: string, e: unknown): Promise<string | undefined> {
  if ((e as NodeJS.ErrnoException).code !== 'ENXIO') return undefined;
  const st = await fs.stat(file).catch(() => undefined);
  return st ? fileKind(st) : undefined;
}

/**
 * Opens `file` for reading; an S2IError (ERR_NOT_A_FILE unless `opts.code`) when it is a directory, FIFO, socket
 * or device. Other errors (ENOENT, EACCES) are thrown as they come, for the caller to word.
 */
export async function openInputFile(file: string, opts: InputFileOptions = {}): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await fs.open(file, flags);
  } catch (e) {
    const kind = await kindOnOpenError(file, e);
    if (kind) throw refuse(file, kind, opts);
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw refuse(file, fileKind(st), opts);
    return fh;
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** The whole of a regular file (see openInputFile). */
export async function readInputFile(file: string, opts: InputFileOptions = {}): Promise<Buffer> {
  const fh = await openInputFile(file, opts);
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** readInputFile for synchronous callers (flag parsing). */
export function readInputFileSync(file: string, opts: InputFileOptions = {}): Buffer {
  let fd: number;
  try {
    fd = openSync(file, flags);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENXIO') throw refuse(file, 'a socket', opts);
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw refuse(file, fileKind(st), opts);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
