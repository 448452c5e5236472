"""The sandbox that student code runs in while it is graded (bubblewrap + rlimits).

A graded kernel sees a read-only system (/usr, the Python install, the venv and the
course_utils package), a private writable home holding only the student's own submission, a
private /tmp, and nothing else of the grading machine: not solutions/, not the gradebook, not
other submissions, not the instructor's environment variables. It has no network (its own
network namespace holds only a loopback device), runs as a fresh unprivileged uid with limits on
memory (address space), CPU time, processes/threads and file size, and dies with its grader.

The kernel talks to the grader over ZeroMQ ipc sockets (unix sockets in a folder shared with the
grader) because TCP cannot cross the network namespace.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import course_utils

GUARD_SOURCE = Path(__file__).with_name("kernel_guard.py")
GUARD_MODULE = "_course_guard"
SANDBOX_HOME = "/home/student"
GUARD_DIR = "/opt/course-grader"
# Unprivileged uids used for sandboxes: a fresh one per kernel, so that the process limit
# (counted per uid by Linux) applies to each sandbox alone.
UID_RANGE = (200_000, 300_000)


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox on this machine."""


@dataclass(frozen=True)
class SandboxPolicy:
    """Resource limits of one graded kernel.

    Attributes:
        memory_bytes: address-space limit (RLIMIT_AS); large allocations raise MemoryError.
        cpu_seconds: CPU time of the kernel over its whole life (RLIMIT_CPU); then it is killed.
        processes: processes and threads of the sandbox's uid (RLIMIT_NPROC).
        file_bytes: largest file the kernel may write (RLIMIT_FSIZE).
        tmp_bytes: size of the private /tmp.
        threads: BLAS/OpenMP/torch threads per kernel (parallel graders share the cores).
    """

    memory_bytes: int = 4 * 2**30
    cpu_seconds: int = 900
    processes: int = 256
    file_bytes: int = 256 * 2**20
    tmp_bytes: int = 256 * 2**20
    threads: int = 1


@dataclass
class Sandbox:
    """The folders of one sandboxed kernel on the grading machine.

    Attributes:
        home: the kernel's home and working folder (the student's submission files only).
        run_dir: connection file and ipc sockets, shared with the grader.
        policy: resource limits.
        enabled: False runs the kernel unsandboxed (for machines without bubblewrap).
        uid: the unprivileged uid the kernel runs as.
    """

    home: Path
    run_dir: Path
    policy: SandboxPolicy = field(default_factory=SandboxPolicy)
    enabled: bool = True
    uid: int = field(default_factory=lambda: secrets.choice(range(*UID_RANGE)))

    def prepare(self) -> None:
        """Create the folders and hand them to the sandbox uid."""
        for folder in (self.home, self.run_dir):
            folder.mkdir(parents=True, exist_ok=True)
            if self.enabled and os.geteuid() == 0:
                os.chown(folder, self.uid, self.uid)
            os.chmod(folder, 0o700)
        if not self.enabled:
            shutil.copy(GUARD_SOURCE, self.run_dir / f"{GUARD_MODULE}.py")

    def hand_over(self, path: Path) -> None:
        """Let the sandbox uid read `path` (the kernel's connection file)."""
        if self.enabled and os.geteuid() == 0:
            os.chown(path, self.uid, self.uid)

    def processes(self) -> list[int]:
        """Pids of the processes running as this sandbox's uid (its kernel and what it started)."""
        if not self.enabled:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if entry.stat().st_uid == self.uid:
                        found.append(int(entry.name))
                except OSError:  # gone meanwhile
                    continue
        return found

    def kill_all(self, wait: float = 5.0) -> None:
        """Kill whatever still runs as this sandbox's uid, and wait until it is gone: a kernel
        must not outlive its grading task (its bubblewrap parent may be gone already)."""
        deadline = time.monotonic() + wait
        while (pids := self.processes()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.05)

    def kernel_environment(self) -> dict[str, str]:
        """The kernel's whole environment: nothing of the grader's leaks in."""
        threads = str(self.policy.threads)
        home = SANDBOX_HOME if self.enabled else str(self.home)
        return {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "USER": "student",
            "LOGNAME": "student",
            "LANG": "C.UTF-8",
            "MPLCONFIGDIR": f"{home}/.config/matplotlib",
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "PYTHONPATH": GUARD_DIR if self.enabled else str(self.run_dir),
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "TORCH_NUM_THREADS": threads,
            "NBGRADER_EXECUTION": "autograde",
        }

    def wrap(self, kernel_command: list[str]) -> list[str]:
        """The command that runs `kernel_command` inside this sandbox."""
        if not self.enabled:
            return kernel_command
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed: apt-get install "
                                     "bubblewrap, or grade with --no-sandbox (unsafe)")
        policy = self.policy
        command = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
                   "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "grader",
                   "--clearenv"]
        for name, value in self.kernel_environment().items():
            command += ["--setenv", name, value]
        binds = self._read_only_binds()
        _check_visible(Path(kernel_command[0]), [target for _, target in binds])
        visible = [target for _, target in binds] + [Path(SANDBOX_HOME), Path(GUARD_DIR, "guard")]
        for folder in [Path("/etc")] + _parents_of(visible):
            command += ["--perms", "0755", "--dir", str(folder)]
        command += ["--ro-bind", "/usr", "/usr"]
        for link in ("bin", "sbin", "lib", "lib64", "lib32"):
            target = Path("/") / link
            if target.is_symlink():
                command += ["--symlink", os.readlink(target), str(target)]
            elif target.is_dir():
                command += ["--ro-bind", str(target), str(target)]
        for path in ("/etc/fonts", "/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives"):
            command += ["--ro-bind-try", path, path]
        # A course or venv under /tmp is bound after the private /tmp is mounted over it.
        in_tmp = [(source, target) for source, target in binds if Path("/tmp") in target.parents]
        for source, target in binds:
            if (source, target) not in in_tmp:
                command += ["--ro-bind", str(source), str(target)]
        command += ["--ro-bind", str(GUARD_SOURCE), f"{GUARD_DIR}/{GUARD_MODULE}.py",
                    "--proc", "/proc", "--dev", "/dev",
                    "--perms", "1777", "--size", str(policy.tmp_bytes), "--tmpfs", "/dev/shm",
                    "--perms", "1777", "--size", str(policy.tmp_bytes), "--tmpfs", "/tmp"]
        # The run folder may lie under /tmp: its parents are made after the private /tmp.
        folders = {folder for path in [t for _, t in in_tmp] + [self.run_dir]
                   for folder in path.parents}
        for folder in sorted(folders - {Path("/"), Path("/tmp")}, key=lambda f: len(f.parts)):
            command += ["--perms", "0755", "--dir", str(folder)]
        for source, target in in_tmp:
            command += ["--ro-bind", str(source), str(target)]
        command += ["--bind", str(self.home), SANDBOX_HOME,
                    "--bind", str(self.run_dir), str(self.run_dir),
                    "--chdir", SANDBOX_HOME]
        command += [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={self.uid}",
                    f"--regid={self.uid}", "--clear-groups", "--inh-caps=-all",
                    "--bounding-set=-all", "--no-new-privs"]
        command += [shutil.which("prlimit") or "/usr/bin/prlimit",
                    f"--as={policy.memory_bytes}", f"--cpu={policy.cpu_seconds}",
                    f"--nproc={policy.processes}", f"--fsize={policy.file_bytes}", "--core=0", "--"]
        return command + kernel_command

    @staticmethod
    def _read_only_binds() -> list[tuple[Path, Path]]:
        """(source, path in the sandbox): the Python install, the venv and course_utils.

        Each is shown at its resolved path; the venv also at the path the kernel command names
        when that goes through a symlink (python finds its venv by the unresolved path). Only
        the venv's bin/, lib/ and pyvenv.cfg are shown: anything else an instructor keeps in the
        venv folder (nbgrader's release.db holds hidden tests) stays out of sight.
        """
        venv = Path(sys.prefix).resolve()
        paths = {Path(sys.base_prefix).resolve(), Path(course_utils.__file__).resolve().parent,
                 Path(sysconfig.get_paths()["purelib"]).resolve()}
        paths.update(venv / name for name in ("bin", "lib", "pyvenv.cfg") if (venv / name).exists())
        # Drop paths nested in another one, and anything under /usr (bound as a whole).
        kept = [p for p in sorted(paths) if not any(q != p and q in p.parents for q in paths)]
        binds = [(p, p) for p in kept if Path("/usr") not in p.parents and p != Path("/usr")]
        named = Path(os.path.abspath(sys.prefix))
        if named != venv:
            binds += [(venv / name, named / name) for name in ("bin", "lib", "pyvenv.cfg")
                      if (venv / name).exists()]
        return binds


def _check_visible(executable: Path, shown: list[Path]) -> None:
    """Refuse a kernel command that the sandbox would not show (its kernel could never start)."""
    if not executable.is_absolute() or Path("/usr") in executable.parents:
        return
    if not any(executable == path or path in executable.parents for path in shown):
        raise SandboxUnavailable(f"the kernel command {executable} lies outside what the sandbox "
                                 f"shows ({', '.join(map(str, shown))})")


def _parents_of(paths: list[Path]) -> list[Path]:
    """Every ancestor folder of `paths` (outermost first), created world-readable in the sandbox."""
    folders: set[Path] = set()
    for path in paths:
        folders.update(p for p in path.parents if p != Path("/"))
    folders.difference_update(paths)
    skip = {Path("/usr"), Path("/tmp"), Path("/proc"), Path("/dev")}
    return sorted((f for f in folders if f not in skip and not any(s in f.parents for s in skip)),
                  key=lambda f: len(f.parts))


def sandbox_available() -> tuple[bool, str]:
    """Whether bubblewrap can start a sandbox here, and why not when it cannot."""
    if sys.platform != "linux":
        return False, "the sandbox needs Linux (bubblewrap)"
    if shutil.which("bwrap") is None:
        return False, "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    if os.geteuid() != 0:
        return False, "the grader must run as root to start sandboxes under fresh uids"
    return True, ""
