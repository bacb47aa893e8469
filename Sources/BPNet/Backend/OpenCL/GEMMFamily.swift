/// A family of GEMM kernels (Kernels/gemm.cl). `OpenCLTuning` picks one per device; a backend can
/// be asked for any (`OpenCLBackend.with(_:)`), and `BPNET_OPENCL_FAMILY` forces one for every command.
public enum GEMMFamily: String, CaseIterable, Sendable {
    /// `gemm_blocked_*`: a register block of C per work item; the GPU choice.
    case registerBlocked = "register-blocked"
    /// `gemm_rowvec_*` and `gemm_dot_nt`: explicit float vectors; the CPU-device choice.
    case vector
    /// `gemm_naive`, with the forward and backward element-wise steps unfused (the SGD update
    /// stays in its epilogue, whose arithmetic it thereby checks): the reference the others are
    /// tested against.
    case naive
}
