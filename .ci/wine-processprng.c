/* A stand-in for what Wine 8 lacks, not for anything of licshift's: Rust's standard library
 * asks bcryptprimitives.dll for ProcessPrng (Windows 10+), which Wine 8 does not export. This
 * DLL, placed beside licshift.exe for the CI's Windows smoke test only, forwards it to
 * RtlGenRandom (advapi32's SystemFunction036), which Wine has. */
#include <windows.h>

typedef BOOLEAN(WINAPI *RtlGenRandomFn)(PVOID, ULONG);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    static RtlGenRandomFn gen = NULL;
    if (!gen) {
        HMODULE advapi = LoadLibraryA("advapi32.dll");
        if (!advapi) return FALSE;
        gen = (RtlGenRandomFn)GetProcAddress(advapi, "SystemFunction036");
        if (!gen) return FALSE;
    }
    while (len > 0) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!gen(data, n)) return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
