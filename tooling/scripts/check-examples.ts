// SPDX-License-Identifier: AGPL-3.0-only
// Type-checks every ```ts block inside a TSDoc comment of packages/*/src/**/*.ts, so the
// examples of the API cannot go stale. Usage: node tooling/scripts/check-examples.ts [ROOT]
// (ROOT defaults to this repository; the tests point it at a fixture).
//
// Each example becomes a virtual module next to its source file, type-checked with the
// compiler options of tooling/config/tsconfig.base.json:
//   1. every export of its package (`import { … } from '<package name>'`), then of the
//      workspace packages it depends on (e.g. `wipeBytes` of @cora/memstore in @cora/ipc),
//      and, for a file under `internal/`, that module's own exports;
//   2. `declare const` for the placeholder names below that it uses;
//   3. its code as written, as an ES module (top-level `await` works; its own imports too).
// Names the example declares or imports itself are left out of 1 and 2.
// Convention for authors: an example is real code against the package's exports. Names the
// reader supplies (a path, the passphrase, their own callback) come from PLACEHOLDERS, each
// with one meaning across the repository; add a name there, or declare it in the example.
// `...` as a "more here" marker is not code: write a complete call or a comment instead.
// Only ```ts fences are checked (```sh, ```json and the like are prose); the package entry is
// src/index.ts.
import { existsSync, globSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** Names an example may use without defining them, with their type. */
const PLACEHOLDERS: Readonly<Record<string, string>> = {
  // Plain values of the caller's.
  path: 'string',
  dir: 'string',
  home: 'string',
  url: 'string',
  text: 'string',
  now: 'number',
  fd: 'number',
  callerEnv: 'Readonly<Record<string, string | undefined>>',
  // Public bytes: a message to MAC, a sealed vault file, the secrets block's JSON.
  bytes: 'Uint8Array',
  input: 'Uint8Array',
  message: 'Uint8Array',
  file: 'Uint8Array',
  json: 'Uint8Array',
  // Secrets, always in secure memory.
  passphrase: "import('@cora/memstore').SecretBuf",
  plaintext: "import('@cora/memstore').SecretBuf",
  value: "import('@cora/memstore').SecretBuf",
  buf: "import('@cora/memstore').SecretBuf",
  auditKey: "import('@cora/memstore').SecretBuf",
  block: "import('@cora/memstore').SecretsBlock",
  store: "import('@cora/memstore').MemStore",
  // Connections and the objects of this project the reader already holds.
  socket: "import('node:net').Socket",
  accepted: "import('node:net').Socket",
  peer: "import('@cora/identity').VerifiedPeer",
  log: "import('@cora/audit').AuditLog",
  client: "import('@cora/ipc').IpcClient",
  frame: "import('@cora/ipc').DecodedFrame",
  handlers: "import('@cora/ipc').IpcHandlers<import('@cora/identity').VerifiedPeer>",
  policy: "import('@cora/policy').Policy",
  caller: "import('@cora/identity').CallerIdentity",
  ctx: "import('@cora/policy').EvaluationContext",
  // Modules an example calls by their usual local name.
  sodium: "typeof import('sodium-native')",
  fs: "typeof import('node:fs')",
  join: "typeof import('node:path').join",
  // The reader's own code: any arguments, any result.
  use: '(...args: readonly unknown[]) => unknown',
  load: '(...args: readonly unknown[]) => unknown',
  handle: '(...args: readonly unknown[]) => unknown',
  decode: '(...args: readonly unknown[]) => unknown',
  sign: '(...args: readonly unknown[]) => unknown',
  hmac: '(...args: readonly unknown[]) => unknown',
  seal: '(...args: readonly unknown[]) => unknown',
  spawnWith: '(...args: readonly unknown[]) => unknown',
};

interface Example {
  /** Source file, absolute. */
  readonly file: string;
  /** 1-based line of the first code line in the source file. */
  readonly line: number;
  /** The code, without the comment's ` * ` prefixes, one entry per line. */
  readonly lines: readonly string[];
  /** Width of the stripped prefix of each line, to report source columns. */
  readonly indents: readonly number[];
}

interface WorkspacePackage {
  readonly name: string;
  readonly dir: string;
  readonly entry: string;
  /** Workspace packages it depends on (dependencies and peerDependencies). */
  readonly deps: readonly string[];
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ROOT = resolve(process.argv[2] ?? REPO);

/** The ```ts blocks inside the `/** … *\/` comments of one source file. */
function extractExamples(file: string, source: string): Example[] {
  const out: Example[] = [];
  for (const match of source.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const startLine = source.slice(0, match.index).split('\n').length;
    const commentLines = match[0].split('\n');
    let current: { line: number; lines: string[]; indents: number[] } | undefined;
    commentLines.forEach((raw, i) => {
      const prefix = /^\s*(?:\/\*\*|\*\/|\*)? ?/.exec(raw)?.[0] ?? '';
      const text = raw.slice(prefix.length).replace(/\s*\*\/$/, '');
      if (current === undefined) {
        if (/^```ts\s*$/.test(text)) current = { line: startLine + i + 1, lines: [], indents: [] };
      } else if (/^```\s*$/.test(text)) {
        out.push({ file, ...current });
        current = undefined;
      } else {
        current.lines.push(text);
        current.indents.push(prefix.length);
      }
    });
  }
  return out;
}

function readPackage(dir: string, names: ReadonlySet<string>): WorkspacePackage | undefined {
  const manifestPath = join(dir, 'package.json');
  if (!existsSync(manifestPath) || !existsSync(join(dir, 'src'))) return undefined;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    name?: string;
    dependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
  };
  if (manifest.name === undefined) return undefined;
  const deps = Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies }).filter((d) =>
    names.has(d),
  );
  return { name: manifest.name, dir, entry: join(dir, 'src', 'index.ts'), deps };
}

function packageNames(dirs: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const dir of dirs) {
    const manifestPath = join(dir, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const name = (JSON.parse(readFileSync(manifestPath, 'utf8')) as { name?: string }).name;
    if (name !== undefined) names.add(name);
  }
  return names;
}

function compilerOptions(): ts.CompilerOptions {
  const configPath = join(REPO, 'tooling', 'config', 'tsconfig.base.json');
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  if (parsed === undefined) throw new Error(`cannot read ${configPath}`);
  return {
    ...parsed.options,
    noEmit: true,
    declaration: false,
    sourceMap: false,
    // Examples import types and values alike without `import type`; nothing is emitted.
    verbatimModuleSyntax: false,
    isolatedModules: false,
    // @types/node from this repository, also for a fixture ROOT outside it.
    typeRoots: [join(REPO, 'node_modules', '@types')],
  };
}

function exportNames(checker: ts.TypeChecker, sourceFile: ts.SourceFile | undefined): string[] {
  if (sourceFile === undefined) return [];
  const symbol = checker.getSymbolAtLocation(sourceFile);
  if (symbol === undefined) return [];
  return checker
    .getExportsOfModule(symbol)
    .map((s) => s.getName())
    .filter((n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n));
}

/** Identifiers the example reads as names (not `x.name`, not `{ name: … }` keys). */
function identifiersOf(node: ts.Node, into: Set<string>): void {
  if (ts.isIdentifier(node)) {
    const parent = node.parent;
    const isMemberName =
      (ts.isPropertyAccessExpression(parent) && parent.name === node) ||
      (ts.isQualifiedName(parent) && parent.right === node);
    const isKey =
      (ts.isPropertyAssignment(parent) || ts.isMethodDeclaration(parent) || ts.isPropertySignature(parent)) &&
      parent.name === node;
    if (!isMemberName && !isKey) into.add(node.text);
  }
  ts.forEachChild(node, (child) => identifiersOf(child, into));
}

interface Virtual {
  readonly example: Example;
  readonly path: string;
  readonly text: string;
  /** Lines before the example's first code line in the virtual file. */
  readonly preambleLines: number;
}

/** Names an example's top-level statements declare (imports, const, function, class, type). */
function declaredNames(parsed: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const addBinding = (name: ts.BindingName): void => {
    if (ts.isIdentifier(name)) names.add(name.text);
    else for (const el of name.elements) if (!ts.isOmittedExpression(el)) addBinding(el.name);
  };
  for (const statement of parsed.statements) {
    if (ts.isImportDeclaration(statement)) {
      const clause = statement.importClause;
      if (clause?.name !== undefined) names.add(clause.name.text);
      const bindings = clause?.namedBindings;
      if (bindings !== undefined && ts.isNamespaceImport(bindings)) names.add(bindings.name.text);
      if (bindings !== undefined && ts.isNamedImports(bindings))
        for (const el of bindings.elements) names.add(el.name.text);
    } else if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) addBinding(declaration.name);
    } else if (
      (ts.isFunctionDeclaration(statement) ||
        ts.isClassDeclaration(statement) ||
        ts.isInterfaceDeclaration(statement) ||
        ts.isTypeAliasDeclaration(statement) ||
        ts.isEnumDeclaration(statement)) &&
      statement.name !== undefined
    ) {
      names.add(statement.name.text);
    }
  }
  return names;
}

function buildVirtual(
  example: Example,
  index: number,
  pkg: WorkspacePackage,
  exportsOf: ReadonlyMap<string, readonly string[]>,
  ownExports: readonly string[],
): Virtual {
  const parsed = ts.createSourceFile('example.ts', example.lines.join('\n'), ts.ScriptTarget.Latest, true);
  // What the example declares itself wins over every generated name.
  const bound = declaredNames(parsed);
  const preamble: string[] = ['// Generated by tooling/scripts/check-examples.ts'];
  const importFrom = (specifier: string, names: readonly string[]): void => {
    const fresh = names.filter((n) => !bound.has(n));
    for (const n of fresh) bound.add(n);
    if (fresh.length > 0) preamble.push(`import { ${fresh.join(', ')} } from '${specifier}';`);
  };
  importFrom(pkg.name, exportsOf.get(pkg.name) ?? []);
  if (ownExports.length > 0) importFrom(`./${basename(example.file)}`, ownExports);
  for (const dep of pkg.deps) importFrom(dep, exportsOf.get(dep) ?? []);

  const used = new Set<string>();
  identifiersOf(parsed, used);
  for (const [name, type] of Object.entries(PLACEHOLDERS)) {
    if (used.has(name) && !bound.has(name)) preamble.push(`declare const ${name}: ${type};`);
  }
  const path = join(dirname(example.file), `__example_${index}_${basename(example.file)}`);
  // The code keeps its lines (imports stay where they are), so positions map back one to one.
  const text = [...preamble, ...example.lines, 'export {};', ''].join('\n');
  return { example, path, text, preambleLines: preamble.length };
}

function main(): number {
  const packagesDir = join(ROOT, 'packages');
  const dirs = existsSync(packagesDir)
    ? readdirSync(packagesDir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => join(packagesDir, d.name))
    : [];
  const names = packageNames(dirs);
  const packages = dirs.map((d) => readPackage(d, names)).filter((p) => p !== undefined);

  const examples: { example: Example; pkg: WorkspacePackage }[] = [];
  for (const pkg of packages) {
    const files = globSync('src/**/*.ts', { cwd: pkg.dir })
      .filter((f) => !f.endsWith('.d.ts'))
      .sort();
    for (const f of files) {
      const file = join(pkg.dir, f);
      for (const example of extractExamples(file, readFileSync(file, 'utf8')))
        examples.push({ example, pkg });
    }
  }
  if (examples.length === 0) {
    console.error(`check-examples: no \`\`\`ts example found under ${packagesDir}`);
    return 1;
  }

  // Pass 1: what each package (and each internal module with examples) exports.
  const options = compilerOptions();
  const internalFiles = [
    ...new Set(examples.map((e) => e.example.file).filter((f) => f.split(sep).includes('internal'))),
  ];
  const host = ts.createCompilerHost(options, true);
  const first = ts.createProgram({
    rootNames: [...packages.map((p) => p.entry).filter((e) => existsSync(e)), ...internalFiles],
    options,
    host,
  });
  const checker = first.getTypeChecker();
  const exportsOf = new Map<string, readonly string[]>();
  for (const pkg of packages) exportsOf.set(pkg.name, exportNames(checker, first.getSourceFile(pkg.entry)));
  const ownExportsOf = new Map<string, readonly string[]>();
  for (const file of internalFiles) ownExportsOf.set(file, exportNames(checker, first.getSourceFile(file)));

  // Pass 2: the examples as virtual modules next to their sources.
  const virtuals = examples.map(({ example, pkg }, i) =>
    buildVirtual(example, i, pkg, exportsOf, ownExportsOf.get(example.file) ?? []),
  );
  const byPath = new Map(virtuals.map((v) => [v.path, v]));
  const virtualHost: ts.CompilerHost = {
    ...host,
    fileExists: (f) => byPath.has(f) || host.fileExists(f),
    readFile: (f) => byPath.get(f)?.text ?? host.readFile(f),
    getSourceFile: (f, language, onError, shouldCreate) => {
      const v = byPath.get(f);
      if (v !== undefined) return ts.createSourceFile(f, v.text, language, true, ts.ScriptKind.TS);
      return host.getSourceFile(f, language, onError, shouldCreate);
    },
  };
  const program = ts.createProgram({
    rootNames: [...byPath.keys()],
    options,
    host: virtualHost,
    oldProgram: first,
  });

  let failed = 0;
  for (const v of virtuals) {
    const sourceFile = program.getSourceFile(v.path);
    if (sourceFile === undefined) throw new Error(`lost virtual file ${v.path}`);
    const diagnostics = [
      ...program.getSyntacticDiagnostics(sourceFile),
      ...program.getSemanticDiagnostics(sourceFile),
    ];
    if (diagnostics.length === 0) continue;
    failed += 1;
    const where = relative(process.cwd(), v.example.file);
    for (const d of diagnostics) {
      const pos = d.start === undefined ? undefined : sourceFile.getLineAndCharacterOfPosition(d.start);
      const codeLine = pos === undefined ? -1 : pos.line - v.preambleLines;
      const inCode = codeLine >= 0 && codeLine < v.example.lines.length;
      const line = inCode ? v.example.line + codeLine : v.example.line - 1;
      const column = inCode && pos !== undefined ? pos.character + (v.example.indents[codeLine] ?? 0) + 1 : 1;
      const message = ts.flattenDiagnosticMessageText(d.messageText, '\n    ');
      console.log(
        `${where}:${line}:${column} - TS${d.code}: ${message}${inCode ? '' : ' (in the generated preamble)'}`,
      );
      if (inCode) console.log(`    > ${v.example.lines[codeLine]?.trim() ?? ''}`);
      if (d.code === 2304) {
        console.log(
          '    (declare it in the example, or add it to PLACEHOLDERS in tooling/scripts/check-examples.ts)',
        );
      }
    }
  }
  const files = new Set(examples.map((e) => e.example.file)).size;
  console.log(`check-examples: ${examples.length} examples in ${files} files, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = main();
