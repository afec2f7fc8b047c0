// Empty on purpose: libabc_openblas.so is Debian's static OpenBLAS (its cblas_* and
// openblas_* functions, pulled in by --undefined at link time) as one shared object, so the
// bundled programs share one copy of it (CMakeLists.txt, ABC_STATIC_DEPS).
namespace abc_openblas_shim {}
