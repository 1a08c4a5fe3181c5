"""Runs a command with the keyutils system calls refused (EPERM), as Docker's
default seccomp profile refuses them: add_key, request_key and keyctl.
Usage: python3 no-keyutils.py COMMAND [ARGS...]  (Linux x86_64 or aarch64)."""
import ctypes
import os
import platform
import struct
import sys

# Per architecture: the AUDIT_ARCH value and the numbers of add_key, request_key, keyctl.
ARCHES = {'x86_64': (0xC000003E, (248, 249, 250)), 'aarch64': (0xC00000B7, (217, 218, 219))}
audit_arch, calls = ARCHES[platform.machine()]

BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL = 0x7FFF0000, 0x00050000, 0x00000000
EPERM = 1


def op(code, jt, jf, k):
    return struct.pack('HBBI', code, jt, jf, k)


program = [
    op(BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
    op(BPF_JEQ_K, 1, 0, audit_arch),
    op(BPF_RET_K, 0, 0, SECCOMP_RET_KILL),
    op(BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
]
for index, number in enumerate(calls):
    # Jump to the EPERM return when it matches: past the remaining checks and the ALLOW.
    program.append(op(BPF_JEQ_K, len(calls) - index, 0, number))
program += [op(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW), op(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM)]

code = b''.join(program)
buffer = ctypes.create_string_buffer(code)


class SockFprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]


fprog = SockFprog(len(program), ctypes.addressof(buffer))
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
    sys.exit(f'no-keyutils: cannot install the seccomp filter: {os.strerror(ctypes.get_errno())}')
os.execvp(sys.argv[1], sys.argv[1:])
