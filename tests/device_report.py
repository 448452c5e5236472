"""Every solution notebook run on the GPU and on the CPU of the same machine, side by side.

Usage (on a machine with CUDA): python tests/device_report.py [CHAPTER ...] [--out DIR] [--jobs N]

Each notebook is executed twice with nbclient, once with the GPU visible and once with
CUDA_VISIBLE_DEVICES="" (the notebooks then pick `cpu`), up to --jobs runs at a time (default: one
per CPU core; with OMP_NUM_THREADS=1 each run keeps to one BLAS thread).
Writes <out>/report.md (wall time per notebook on each device, and every code cell whose printed
output differs between the two runs) and <out>/executed.tar.gz (the executed notebooks).
"""

import argparse
import multiprocessing
import os
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from traitlets.config import Config

ROOT = Path(__file__).resolve().parent.parent
DEVICES = ("cuda", "cpu")


def execute(notebook: Path, device: str, out: Path) -> tuple[str, str, float, str]:
    """Run `notebook` with the GPU visible (`cuda`) or hidden (`cpu`); save it under `out`.

    Returns (chapter, device, wall seconds, error text or "").
    """
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    else:
        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    nb = nbformat.read(notebook, as_version=4)
    start = time.perf_counter()
    error = ""
    # Kernels started at the same moment can pick the same free TCP port; one then fails to bind
    # and its notebook hangs. Unix sockets in a folder of their own cannot collide.
    with tempfile.TemporaryDirectory() as sockets:
        config = Config({"KernelManager": {"transport": "ipc", "ip": f"{sockets}/kernel"}})
        client = NotebookClient(nb, timeout=900, kernel_name="python3", config=config,
                                resources={"metadata": {"path": str(notebook.parent)}})
        try:
            client.execute()
        except Exception as exc:  # a failing cell: keep the partial notebook and say why
            error = f"{type(exc).__name__}: {str(exc).splitlines()[-1] if str(exc) else ''}"
    seconds = time.perf_counter() - start
    nbformat.write(nb, out / f"{notebook.stem}.{device}.ipynb")
    return notebook.stem, device, seconds, error


def printed(cell: nbformat.NotebookNode) -> str:
    """What a code cell printed: its stream text, plain-text results and errors."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.get("data", {}).get("text/plain", ""))
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return "".join(parts)


def differing_cells(gpu: nbformat.NotebookNode,
                    cpu: nbformat.NotebookNode) -> list[tuple[int, str, str]]:
    """(cell index, GPU text, CPU text) for each code cell whose printed output differs."""
    return [(index, printed(g), printed(c))
            for index, (g, c) in enumerate(zip(gpu.cells, cpu.cells, strict=True))
            if g.cell_type == "code" and printed(g) != printed(c)]


def indent(text: str, limit: int = 1500) -> str:
    text = text if len(text) <= limit else text[:limit] + " […]"
    return "\n".join("    " + line for line in text.splitlines()) or "    (nothing)"


def report(results: list[tuple[str, str, float, str]], out: Path, jobs: int) -> str:
    import torch
    times = {(chapter, device): (seconds, error) for chapter, device, seconds, error in results}
    chapters = sorted({chapter for chapter, *_ in results})
    gpu_name = torch.cuda.get_device_name(0)
    lines = [f"# Solution notebooks on {gpu_name} vs the CPU of the same machine", "",
             f"{os.cpu_count()} CPU cores, {len(results)} runs, {jobs} at a time, OMP_NUM_THREADS="
             f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, torch {torch.__version__}.", "",
             "| notebook | GPU | CPU | CPU / GPU | cells printing differently |",
             "|---|---|---|---|---|"]
    details = []
    for chapter in chapters:
        (gpu_s, gpu_error), (cpu_s, cpu_error) = times[chapter, "cuda"], times[chapter, "cpu"]
        gpu = nbformat.read(out / f"{chapter}.cuda.ipynb", as_version=4)
        cpu = nbformat.read(out / f"{chapter}.cpu.ipynb", as_version=4)
        differing = differing_cells(gpu, cpu)
        lines.append(f"| {chapter} | {gpu_s:.1f} s | {cpu_s:.1f} s | {cpu_s / gpu_s:.2f} | "
                     f"{', '.join(str(index) for index, *_ in differing) or 'none'} |")
        for device, error in (("GPU", gpu_error), ("CPU", cpu_error)):
            if error:
                details.append(f"\n**{chapter} failed on the {device}:** {error}")
        for index, gpu_text, cpu_text in differing:
            details.append(f"\n## {chapter}, cell {index}\n"
                           f"GPU:\n{indent(gpu_text)}\nCPU:\n{indent(cpu_text)}")
    return "\n".join(lines + details) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter folders, e.g. ch05_cnn (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "device_report")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    args = parser.parse_args()
    import torch
    if not torch.cuda.is_available():
        sys.exit("device_report: no CUDA device visible to torch")
    args.out.mkdir(parents=True, exist_ok=True)
    notebooks = [ROOT / "solutions" / chapter / f"{chapter}.ipynb" for chapter in args.chapters]
    notebooks = notebooks or sorted(ROOT.glob("solutions/ch*/ch*.ipynb"))
    for missing in (notebook for notebook in notebooks if not notebook.exists()):
        sys.exit(f"device_report: no notebook {missing.relative_to(ROOT)}")
    jobs = [(notebook, device) for notebook in notebooks for device in DEVICES]
    results = []
    # Fresh interpreters: a fork of this process, whose torch has started threads, can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(args.jobs, len(jobs)), mp_context=context) as pool:
        futures = [pool.submit(execute, notebook, device, args.out) for notebook, device in jobs]
        for future in futures:
            chapter, device, seconds, error = future.result()
            print(f"{chapter} on {device}: {seconds:.1f} s {error}", flush=True)
            results.append((chapter, device, seconds, error))
    text = report(results, args.out, min(args.jobs, len(jobs)))
    (args.out / "report.md").write_text(text)
    with tarfile.open(args.out / "executed.tar.gz", "w:gz") as archive:
        for path in sorted(args.out.glob("*.ipynb")):
            archive.add(path, arcname=path.name)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
