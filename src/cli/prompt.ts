// Questions on the terminal (login's user name and password, the password of `--creds USER`): asked on stderr so
// stdout keeps only results, answered on stdin; a secret answer is not echoed.
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { S2IError } from '../errors.js';

/** Whether there is a terminal to ask on (standard input is one). */
export function canPrompt(): boolean {
  return process.stdin.isTTY === true;
}

/** Reads one line from the terminal; `secret` keeps it from being echoed. */
export function prompt(question: string, secret: boolean, stderr: NodeJS.WriteStream): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (!muted) stderr.write(chunk);
      cb();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  return new Promise((resolve, reject) => {
    rl.question(question, (answer) => {
      rl.close();
      if (secret) stderr.write('\n');
      resolve(answer);
    });
    muted = secret;
    rl.once('SIGINT', () => {
      rl.close();
      if (secret) stderr.write('\n');
      reject(new S2IError('ERR_INTERRUPTED', 'interrupted at the prompt'));
    });
  });
}
