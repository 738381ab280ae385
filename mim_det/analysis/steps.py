"""Steps of a multi-run job (pretrain -> export -> fine-tune ...), run side by side.

Used by ``tools/compare_methods.py`` (the main job's table) and
``tools/analysis/data_scaling.py``. Each step is one subprocess (``tools/train.py`` ...) logged
to ``<work>/logs/<name>.log``; a finished step leaves a stamp (``<step dir>/step_done.json``)
holding its command line, a SHA-256 digest of each file it read that another step wrote
(``inputs``: a checkpoint, an export) and a digest of the resolved content of each config its
command names (``configs``: the file with its ``_base_`` chain, so an edited base config counts
too), so a rerun with the same arguments skips it and an interrupted job continues where it
stopped, while a step whose input was rewritten (its pretraining ran again with other options,
or lost its stamp) or whose config now says something else runs again, and so on down the chain:
a fine-tuning is never reported from an export that no longer exists, nor from a recipe that
was changed after it ran. The code itself is not in the stamp: after changing mim_det, delete
the stamps of the steps it affects.

Independent steps run side by side (``jobs``), each with ``cores // jobs`` OpenMP threads: two
two-thread trainings at once on 2 cores run 5-15x slower (OpenMP spin-waits), so the thread
count per step is set, never left to the default. ``auto`` gives each step at least two cores:
on a 2-core CPU two one-thread lanes were measured no faster than one two-thread lane (the
default main job, seed 0: 48.2 min side by side against 46.7 min one step at a time; a tiny
pretraining at one thread beside another step ran 1.6x slower than alone at two), so there it
runs one step at a time, and on a 16-core node 4 steps of 4 threads.
"""
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence

from mim_det.cli import CLIError
from mim_det.engine.atomic_local_backend import atomic_write_bytes

STAMP = 'step_done.json'


def read_stamp(path: str) -> Optional[dict]:
    """The stamp a finished step left at ``path``, or None when there is none or it cannot be
    read (a file truncated by a crash of an older version: the step runs again)."""
    try:
        with open(path) as f:
            stamp = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return stamp if isinstance(stamp, dict) else None


def input_digests(paths: Sequence[str]) -> Dict[str, str]:
    """``{path: SHA-256 hex digest}`` of the files a step reads: its stamp records them, and a
    changed digest means the step's result is stale."""
    digests = {}
    for path in paths:
        try:
            digest = hashlib.sha256()  # hashlib.file_digest is Python >= 3.11
            with open(path, 'rb') as f:
                for block in iter(lambda: f.read(1 << 20), b''):
                    digest.update(block)
            digests[path] = digest.hexdigest()
        except FileNotFoundError:
            raise CLIError(f'{path}: a step needs this file, which the step before it should '
                           'have written; delete that step\'s step_done.json and rerun') from None
    return digests


def config_digest(path: str) -> str:
    """SHA-256 hex digest of what the mmengine config at ``path`` resolves to (its ``_base_``
    files merged, ``{{_base_.x}}`` substituted), as canonical JSON: an edit of any file of the
    chain changes it, reformatting or comments do not. Nothing of ``custom_imports`` is
    imported."""
    from mmengine.config import Config
    try:
        cfg = Config.fromfile(path, import_custom_modules=False)
    except Exception as error:  # any parse or base-file error: one line naming the config
        raise CLIError(f'{path}: cannot read this config ({type(error).__name__}: '
                       f'{str(error).splitlines()[0] if str(error) else ""}); fix it and rerun'
                       ) from None
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=_stable_repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _stable_repr(value) -> str:
    # a config may hold a type or a function (``type=SomeClass``): its qualified name, not a
    # repr with a memory address, which would differ from run to run
    name = getattr(value, '__qualname__', None)
    if name is not None:
        return f'{getattr(value, "__module__", "")}.{name}'
    return repr(value)


def command_configs(cmd: Sequence[str], root: Optional[str] = None) -> List[str]:
    """The configs a step's command names: every argument after the script (``cmd[1]``) that is
    a ``.py`` file (relative paths from ``root``, the steps' working directory)."""
    return [arg for arg in cmd[2:] if isinstance(arg, str) and arg.endswith('.py')
            and osp.isfile(osp.join(root or os.getcwd(), arg))]


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask: taskset, cgroup cpusets, Slurm)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_jobs(text: str, cores: int) -> int:
    if text == 'auto':  # at least two cores per step (module docstring)
        return max(1, min(4, cores // 2))
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise CLIError(f'--jobs {text!r}: give a positive integer or "auto"')
    return jobs


class Once:
    """Calls ``fn`` once per key, also when several threads ask for the same key at once: the
    first caller computes, the others wait for its value (a step that other steps need, such as
    a teacher's pretraining, runs once)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._cells: Dict[tuple, list] = {}  # key -> [lock, state, value]

    def __call__(self, key: tuple, fn: Callable):
        with self._lock:
            cell = self._cells.setdefault(key, [threading.Lock(), 'new', None])
        with cell[0]:
            if cell[1] != 'done':
                cell[1] = 'running'
                try:
                    cell[2], cell[1] = fn(), 'done'
                except BaseException:
                    cell[1] = 'new'
                    raise
        return cell[2]

    def claim(self, key: tuple):
        """Mark ``key`` as being computed before its computing thread calls for it, so that
        tasks waiting for it are not picked in the meantime."""
        with self._lock:
            cell = self._cells.setdefault(key, [threading.Lock(), 'new', None])
            if cell[1] == 'new':
                cell[1] = 'running'

    def running(self, key: tuple) -> bool:
        """Whether another thread is computing ``key`` now (a caller would wait for it)."""
        with self._lock:
            return key in self._cells and self._cells[key][1] == 'running'


class StepStopped(Exception):
    """A step stopped because another one failed (its own failure is not the cause)."""


class Job:
    """Runs the steps, at most ``jobs`` at a time (each caller thread runs one subprocess),
    logging each to ``<work>/logs/<name>.log``. The first failure stops the steps still running
    (they leave no stamp, so a rerun repeats them) and keeps new ones from starting."""

    def __init__(self, work_dir: str, total_weight: float, threads: Optional[int] = None,
                 weights: Optional[Dict[str, float]] = None, root: Optional[str] = None,
                 jobs: int = 1):
        self.work_dir = work_dir
        self.weights = weights or {}  # relative cost per step kind, for the time-left estimate
        self.root = root  # the working directory of the steps
        self.start = time.time()
        self.total = total_weight
        self.done = 0.0
        self.ran = 0.0  # weight of the steps run (not skipped) in this invocation
        self.ran_seconds = 0.0  # and their wall time, added up
        self.jobs = jobs
        self.count = 0
        self.env = None
        if threads is not None:
            self.env = dict(os.environ, OMP_NUM_THREADS=str(threads),
                            MKL_NUM_THREADS=str(threads))
        self._lock = threading.Lock()
        self._running: Dict[str, subprocess.Popen] = {}
        self._began: Dict[str, float] = {}  # running step -> its start time
        self.failed = False
        os.makedirs(osp.join(work_dir, 'logs'), exist_ok=True)

    def _progress(self) -> str:
        elapsed = time.time() - self.start
        text = f'{elapsed / 60:.1f} min elapsed'
        if self.ran > 0 and self.done < self.total:
            # seconds per unit of weight from the steps this invocation ran (skipped steps cost
            # nothing); the running steps' time so far is work already done; the rest is shared
            # by the threads
            pace = self.ran_seconds / self.ran
            now = time.time()
            busy = sum(now - t for t in self._began.values())
            left = max(0.0, (self.total - self.done) * pace - busy) / self.jobs
            text += f', about {left / 60:.0f} min left'
        return text

    def _finish(self, name: str, kind: str, seconds: Optional[float], text: str):
        with self._lock:
            self.done += self.weights.get(kind, 1.0)
            if seconds is not None:  # it ran (not skipped)
                self.ran += self.weights.get(kind, 1.0)
                self.ran_seconds += seconds
            print(f'{name}: {text} ({self._progress()})', flush=True)

    def stop_all(self):
        """Stop every running step (first failure, Ctrl-C); no new step starts after this."""
        with self._lock:
            self.failed = True
            running = list(self._running.items())
        for name, proc in running:
            if proc.poll() is None:
                proc.terminate()
                print(f'{name}: stopped (another step failed or the job was interrupted); a '
                      'rerun repeats it', flush=True)

    def run(self, name: str, kind: str, out_dir: str, cmd: List[str],
            inputs: Sequence[str] = ()) -> dict:
        """Run ``cmd`` unless ``out_dir`` holds a stamp of the same command that read the same
        ``inputs`` (files other steps wrote, compared by digest) and the same configs (compared
        by the digest of what they resolve to); returns the stamp (``seconds``: the step's
        wall time when it ran)."""
        stamp_path = osp.join(out_dir, STAMP)
        stamp = read_stamp(stamp_path)
        digests = input_digests(inputs)
        configs = {path: config_digest(osp.join(self.root or os.getcwd(), path))
                   for path in command_configs(cmd, self.root)}
        # a stamp without digests (an older version's) is done only for a step that reads no
        # file and names no config
        if (stamp is not None and stamp.get('cmd') == cmd and stamp.get('inputs', {}) == digests
                and stamp.get('configs', {}) == configs):
            self._finish(name, kind, None, 'done before, skipped')
            return stamp
        log = osp.join(self.work_dir, 'logs', f'{name}.log')
        with self._lock:
            if self.failed:
                raise StepStopped(name)
            self.count += 1
            print(f'[{self.count}] {name} ...', flush=True)
            begin = time.time()
            with open(log, 'w') as f:
                proc = subprocess.Popen(cmd, cwd=self.root, stdout=f, stderr=subprocess.STDOUT,
                                        env=self.env)
            self._running[name] = proc
            self._began[name] = begin
        returncode = proc.wait()
        seconds = time.time() - begin
        with self._lock:
            del self._running[name], self._began[name]
            stopped = self.failed
        if returncode != 0:
            if stopped:
                raise StepStopped(name)
            self.stop_all()
            with open(log) as f:
                tail = f.read().splitlines()[-30:]
            print('\n'.join(tail), file=sys.stderr)
            raise CLIError(f'step "{name}" failed (exit {returncode}); full log: {log}')
        stamp = dict(cmd=cmd, inputs=digests, configs=configs, seconds=seconds)
        # complete or absent: a job killed while writing it must not leave a stamp that
        # stops every rerun (the step is then simply run again)
        atomic_write_bytes(json.dumps(stamp).encode(), stamp_path)
        self._finish(name, kind, seconds, f'{seconds:.0f} s')
        return stamp


def run_side_by_side(tasks: List[tuple], jobs: int, job: Job, once: Once) -> list:
    """Run ``tasks`` (``(key, needs, fn)``: a chain of steps that computes the ``once`` key
    ``key`` (or None) and first needs the values of the keys ``needs``) on ``jobs`` threads;
    returns their values in list order. A free thread takes the first task none of whose needs
    another thread is computing, so no thread sits waiting while other work is ready. The first
    error stops the other steps and is raised; so does Ctrl-C."""
    pending = list(range(len(tasks)))
    results: list = [None] * len(tasks)
    errors: List[BaseException] = []
    changed = threading.Condition()

    def worker():
        while True:
            with changed:
                while True:
                    if errors or not pending:
                        return
                    pick = next((i for i in pending
                                 if not any(once.running(k) for k in tasks[i][1])), None)
                    if pick is not None:
                        pending.remove(pick)
                        if tasks[pick][0] is not None:
                            once.claim(tasks[pick][0])
                        break
                    changed.wait(timeout=2.0)  # a key finishes inside another task
            try:
                results[pick] = tasks[pick][2]()
            except BaseException as e:  # noqa: B902 - handed to the main thread
                with changed:
                    errors.append(e)
                job.stop_all()
            with changed:
                changed.notify_all()

    threads = [threading.Thread(target=worker, name=f'step-{i}', daemon=True)
               for i in range(jobs)]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.5)
    except KeyboardInterrupt:
        with changed:
            errors.append(KeyboardInterrupt())
        job.stop_all()
        for t in threads:
            t.join()
        raise
    if errors:
        raise next((e for e in errors if not isinstance(e, StepStopped)), errors[0])
    return results
