// Image label names of the S2I builder contract (S2I-CONTRACT.md "Builder image contract") and the labels
// a build generates on its output image.

/** Label names read from builder images or written to output images. */
export const Label = {
  scriptsUrl: 'io.openshift.s2i.scripts-url',
  /** Deprecated spelling still honoured by s2i. */
  scriptsUrlDeprecated: 'io.s2i.scripts-url',
  destination: 'io.openshift.s2i.destination',
  /** Deprecated spelling still honoured by s2i. */
  destinationDeprecated: 'io.s2i.destination',
  assembleUser: 'io.openshift.s2i.assemble-user',
  assembleRuntimeUser: 'io.openshift.s2i.assemble-runtime-user',
  assembleInputFiles: 'io.openshift.s2i.assemble-input-files',
  buildImage: 'io.openshift.s2i.build.image',
  sourceLocation: 'io.openshift.s2i.build.source-location',
  sourceContextDir: 'io.openshift.s2i.build.source-context-dir',
  commitAuthor: 'io.openshift.s2i.build.commit.author',
  commitDate: 'io.openshift.s2i.build.commit.date',
  commitId: 'io.openshift.s2i.build.commit.id',
  commitRef: 'io.openshift.s2i.build.commit.ref',
  commitMessage: 'io.openshift.s2i.build.commit.message',
  k8sDisplayName: 'io.k8s.display-name',
  k8sDescription: 'io.k8s.description',
} as const;

/** Environment variable that older builders use instead of the scripts-url label. */
export const ScriptsUrlEnv = 'STI_SCRIPTS_URL';

/** Longest commit message label value (s2i formats it with `%<(80,trunc)%s`). */
export const commitMessageMax = 80;

export interface GitInfo {
  /** "Name <email>" */
  author: string;
  date: string;
  /** Full commit SHA. */
  id: string;
  ref: string;
  message: string;
}

export interface GeneratedLabelsInput {
  builderImage: string;
  sourceLocation: string;
  contextDir?: string;
  appName?: string;
  description?: string;
  tag?: string;
  git?: Partial<GitInfo>;
}

/** First line of a commit message, cut at 80 characters (code points, never splitting a surrogate pair). */
export function commitSubject(message: string): string {
  const first = message.replace(/^\s+/, '').split(/\r?\n/, 1)[0] ?? '';
  return Array.from(first.trimEnd()).slice(0, commitMessageMax).join('');
}

/**
 * Labels a build adds to its output image. As in s2i, empty values are left out rather than written empty.
 * Display name: the application name, else the output tag.
 */
export function generatedLabels(input: GeneratedLabelsInput): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (k: string, v: string | undefined): void => {
    if (v !== undefined && v !== '') out[k] = v;
  };
  put(Label.k8sDescription, input.description);
  put(Label.k8sDisplayName, input.appName || input.tag);
  put(Label.buildImage, input.builderImage);
  put(Label.sourceLocation, input.sourceLocation);
  put(Label.sourceContextDir, input.contextDir);
  const g = input.git;
  if (g) {
    put(Label.commitAuthor, g.author);
    put(Label.commitDate, g.date);
    put(Label.commitId, g.id);
    put(Label.commitRef, g.ref);
    put(Label.commitMessage, g.message === undefined ? undefined : commitSubject(g.message));
  }
  return out;
}

/**
 * Merge label maps, later wins (builder < generated < --label < image_metadata.json). One implementation, in
 * image/config.ts: a label named "__proto__" (image_metadata.json is written by assemble) stays a label there,
 * where Object.assign would have switched the result's prototype.
 */
export { mergeLabels } from '../image/config.js';
