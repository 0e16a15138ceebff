// zstd through the `zstd` command (Node 20's zlib has no zstd). A Transform whose writable side feeds the
// child's stdin and whose readable side is the child's stdout, with backpressure both ways.
// `-T0` keeps zstd in multi-threaded mode, whose output does not depend on the number of threads
// (zstd(1): "the compressed output is deterministic irrespective of the number of threads").
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { Transform, type Readable, type Writable, type TransformCallback } from 'node:stream';
import { S2IError } from '../errors.js';

const STDERR_KEEP = 2048;

export class ZstdCommand extends Transform {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly exited: Promise<Error | null>;
  private readonly stdoutEnded: Promise<void>;
  private stderr = '';

  constructor(level: number, command = 'zstd') {
    super();
    this.child = spawn(command, ['-c', '-q', `-${level}`, '-T0', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-STDERR_KEEP);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('error', (e: NodeJS.ErrnoException) => {
        resolve(e.code === 'ENOENT'
          ? new S2IError('ERR_ZSTD_MISSING', `zstd compression needs the \`${command}\` command; install zstd or use --compression gzip`, { cause: e })
          : new S2IError('ERR_COMPRESS', `could not run ${command}: ${e.message}`, { cause: e }));
      });
      this.child.once('close', (code, sig) => {
        resolve(code === 0 ? null
          : new S2IError('ERR_COMPRESS', `${command} failed (${sig ?? `exit ${code}`}): ${this.stderr.trim().split('\n').pop() ?? ''}`));
      });
    });
    // Any failure of the child fails this stream, even while nobody is writing or reading.
    void this.exited.then((e) => {
      if (e) this.destroy(e);
    });
    this.stdoutEnded = new Promise((resolve) => this.child.stdout.once('end', resolve));
    this.child.stdout.on('data', (c: Buffer) => {
      if (!this.push(c)) this.child.stdout.pause();
    });
    // EPIPE on stdin is reported through the exit status above.
    this.child.stdin.on('error', () => {});
  }

  override _read(size: number): void {
    this.child.stdout.resume();
    super._read(size);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.child.stdin.write(chunk)) cb();
    else this.child.stdin.once('drain', () => cb());
  }

  override _flush(cb: TransformCallback): void {
    this.child.stdin.end();
    // On success wait for the last output too; a failed child may never end its stdout.
    void this.exited.then((e) => (e ? cb(e) : this.stdoutEnded.then(() => cb())));
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    cb(err);
  }
}
