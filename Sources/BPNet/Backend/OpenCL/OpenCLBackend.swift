import COpenCL
import Foundation

/// Device memory for `OpenCLBackend`, released with the handle.
final class OpenCLBuffer: DeviceBuffer {
    let count: Int
    let memory: cl_mem

    /// A buffer of `count` zeros, as the CPU backend's new buffers are, so that a read of memory
    /// that nothing wrote gives the same on every backend. The zeros are copied from the host:
    /// Oclgrind reported reads of buffers that kernels had fully written as uninitialized when their
    /// memory had belonged to a released buffer, unless the host had written it first (a fill did not do).
    init(zeros count: Int, context: cl_context) throws {
        var status: cl_int = 0
        var zeros = [Float](repeating: 0, count: max(count, 1))
        let memory = clCreateBuffer(
            context, cl_mem_flags(CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR), zeros.count * 4, &zeros, &status)
        guard let memory, status == CL_SUCCESS else {
            if let memory { clReleaseMemObject(memory) }
            let code = status == CL_SUCCESS ? CL_MEM_OBJECT_ALLOCATION_FAILURE : status
            throw BPNetError.openCL(call: "clCreateBuffer(\(count) floats)", code: clErrorName(code))
        }
        self.count = count
        self.memory = memory
    }

    /// A sub-buffer: `count` floats of `parent` from `offset`, which must be a multiple of the
    /// device's base-address alignment. It keeps the parent alive.
    init(subBufferOf parent: OpenCLBuffer, offset: Int, count: Int) throws {
        var region = cl_buffer_region(origin: offset * 4, size: max(count, 1) * 4)
        var status: cl_int = 0
        let memory = clCreateSubBuffer(
            parent.memory, cl_mem_flags(CL_MEM_READ_WRITE), cl_buffer_create_type(CL_BUFFER_CREATE_TYPE_REGION), &region, &status)
        guard let memory, status == CL_SUCCESS else {
            if let memory { clReleaseMemObject(memory) }
            throw BPNetError.openCL(call: "clCreateSubBuffer(\(count) floats at \(offset))", code: clErrorName(status))
        }
        self.count = count
        self.memory = memory
        self.parent = parent
    }

    private var parent: OpenCLBuffer?

    deinit { clReleaseMemObject(memory) }
}

/// One device's context, in-order queue, program and kernels: built once per device per process
/// and shared by every backend on it, since PoCL crashed with several contexts in one process.
/// Kernel arguments are process-wide state of a `cl_kernel`, so launches hold `lock`.
final class OpenCLContext: @unchecked Sendable {
    let device: OpenCLDeviceInfo
    let tuning: OpenCLTuning
    let context: cl_context
    let queue: cl_command_queue
    let program: cl_program
    /// Indexed by `Kernel.rawValue`: created once, so a launch never looks a kernel up by name.
    private var kernels: [cl_kernel] = []
    let lock = NSLock()

    /// Every kernel of the program.
    enum Kernel: Int, CaseIterable {
        case gemmNaive, gemmBlockedNN, gemmBlockedNT, gemmBlockedTN, gemmBlockedTT
        case gemmRowVectorNN, gemmRowVectorTN, gemmDotNT
        case addBiasActivation, activateElements, softmaxRows, activationBackward, outputDelta, batchMetrics, metricsAndOutputDelta
        case gatherRows, gatherBatch
        case updateBias, biasGradient, optimizerStep, optimizerStepArena, clipToGlobalNorm, dropoutMask, augmentImages, multiply
        case im2col, col2im, maxPool, maxPoolBackward, transposeSamples
        case batchNormStatistics, batchNorm, batchNormBackward, batchNormInputGradient

        /// The kernel's name in Kernels/*.cl.
        var name: String {
            switch self {
            case .gemmNaive: return "gemm_naive"
            case .gemmBlockedNN: return "gemm_blocked_nn"
            case .gemmBlockedNT: return "gemm_blocked_nt"
            case .gemmBlockedTN: return "gemm_blocked_tn"
            case .gemmBlockedTT: return "gemm_blocked_tt"
            case .gemmRowVectorNN: return "gemm_rowvec_nn"
            case .gemmRowVectorTN: return "gemm_rowvec_tn"
            case .gemmDotNT: return "gemm_dot_nt"
            case .addBiasActivation: return "add_bias_activation"
            case .activateElements: return "activate_elements"
            case .softmaxRows: return "softmax_rows"
            case .activationBackward: return "activation_backward"
            case .outputDelta: return "output_delta"
            case .batchMetrics: return "batch_metrics"
            case .metricsAndOutputDelta: return "metrics_and_output_delta"
            case .gatherRows: return "gather_rows"
            case .gatherBatch: return "gather_batch"
            case .updateBias: return "update_bias"
            case .biasGradient: return "bias_gradient"
            case .optimizerStep: return "optimizer_step"
            case .optimizerStepArena: return "optimizer_step_arena"
            case .clipToGlobalNorm: return "clip_to_global_norm"
            case .dropoutMask: return "dropout_mask"
            case .augmentImages: return "augment_images"
            case .multiply: return "multiply"
            case .im2col: return "im2col"
            case .col2im: return "col2im"
            case .maxPool: return "max_pool"
            case .maxPoolBackward: return "max_pool_backward"
            case .batchNormStatistics: return "batch_norm_statistics"
            case .batchNorm: return "batch_norm"
            case .batchNormBackward: return "batch_norm_backward"
            case .batchNormInputGradient: return "batch_norm_input_gradient"
            case .transposeSamples: return "transpose_samples"
            }
        }
    }

    static let kernelNames = Kernel.allCases.map(\.name)

    private init(device: OpenCLDeviceInfo) throws {
        self.device = device
        tuning = try OpenCLTuning(for: device)
        var id: cl_device_id? = device.id
        var status: cl_int = 0
        guard let context = clCreateContext(nil, 1, &id, nil, nil, &status) else {
            throw BPNetError.openCL(call: "clCreateContext", code: clErrorName(status))
        }
        self.context = context
        // Profiling is enabled so that a profiled backend can time kernels from their events;
        // launches of an unprofiled backend ask for no event and pay nothing for it.
        let properties = cl_command_queue_properties(CL_QUEUE_PROFILING_ENABLE)
        guard let queue = clCreateCommandQueue(context, device.id, properties, &status) else {
            clReleaseContext(context)
            throw BPNetError.openCL(call: "clCreateCommandQueue", code: clErrorName(status))
        }
        self.queue = queue
        do {
            program = try OpenCLContext.build(try OpenCLContext.source(tuning), context: context, device: device)
        } catch {
            clReleaseCommandQueue(queue)
            clReleaseContext(context)
            throw error
        }
        for name in OpenCLContext.kernelNames {
            guard let kernel = clCreateKernel(program, name, &status) else {
                throw BPNetError.openCL(call: "clCreateKernel(\(name))", code: clErrorName(status))
            }
            kernels.append(kernel)
        }
    }

    deinit {
        for kernel in kernels { clReleaseKernel(kernel) }
        clReleaseProgram(program)
        clReleaseCommandQueue(queue)
        clReleaseContext(context)
    }

    func kernel(_ kernel: Kernel) -> cl_kernel { kernels[kernel.rawValue] }

    /// The per-device defines, then the kernels embedded at build time — or, when
    /// `BPNET_KERNELS` names a folder, its `*.cl` files, for kernel work without rebuilding.
    static func source(_ tuning: OpenCLTuning) throws -> String {
        var files = EmbeddedKernels.sources
        if let folder = ProcessInfo.processInfo.environment["BPNET_KERNELS"], !folder.isEmpty {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue,
                let entries = try? FileManager.default.contentsOfDirectory(atPath: folder)
            else { throw BPNetError.device("BPNET_KERNELS=\(folder): no such folder, or it cannot be read") }
            let names = entries.filter { $0.hasSuffix(".cl") }.sorted()
            guard !names.isEmpty else { throw BPNetError.device("BPNET_KERNELS=\(folder) holds no .cl files") }
            files = try names.map { name in
                guard let text = try? String(contentsOfFile: "\(folder)/\(name)", encoding: .utf8) else {
                    throw BPNetError.device("BPNET_KERNELS=\(folder): \(name) cannot be read as UTF-8 text")
                }
                return (name, text)
            }
        }
        return tuning.defines + files.map { "// ---- \($0.name)\n\($0.source)\n" }.joined()
    }

    /// The build options: none. Without `-cl-fast-relaxed-math`, results must match the CPU to a
    /// stated tolerance.
    static let buildOptions = ""

    /// The program for `source`: from the kernel binary cache when it holds this source's build for
    /// this device and driver, else compiled, and then stored there.
    static func build(_ source: String, context: cl_context, device: OpenCLDeviceInfo) throws -> cl_program {
        try build(source, context: context, device: device, cacheFolder: KernelBinaryCache.folder()).program
    }

    /// `build`, with the cache folder given (nil: no cache), saying whether the cache served it.
    static func build(
        _ source: String, context: cl_context, device: OpenCLDeviceInfo, cacheFolder: String?
    ) throws -> (program: cl_program, cached: Bool) {
        let key = KernelBinaryCache.key(source: source, options: buildOptions, device: device)
        if let cacheFolder, let binary = KernelBinaryCache.load(key, from: cacheFolder),
            let program = fromBinary(binary, context: context, device: device)
        {
            return (program, true)
        }
        let program = try compile(source, context: context, device: device)
        if let cacheFolder, let binary = binary(of: program, device: device) {
            KernelBinaryCache.store(binary, key: key, in: cacheFolder)
        }
        return (program, false)
    }

    /// A program from a cached binary, or nil when the driver refuses it (then it is compiled anew).
    private static func fromBinary(_ binary: [UInt8], context: cl_context, device: OpenCLDeviceInfo) -> cl_program? {
        var id: cl_device_id? = device.id
        var length = binary.count
        var binaryStatus: cl_int = 0, status: cl_int = 0
        let program: cl_program? = binary.withUnsafeBufferPointer { buffer in
            var pointer: UnsafePointer<UInt8>? = buffer.baseAddress
            return clCreateProgramWithBinary(context, 1, &id, &length, &pointer, &binaryStatus, &status)
        }
        guard let program, status == CL_SUCCESS, binaryStatus == CL_SUCCESS else {
            if let program { clReleaseProgram(program) }
            return nil
        }
        let built = withStandardErrorSilenced { clBuildProgram(program, 1, &id, buildOptions, nil, nil) }
        guard built == CL_SUCCESS else {
            clReleaseProgram(program)
            return nil
        }
        return program
    }

    /// The program's binary for its one device, or nil where the driver gives none.
    private static func binary(of program: cl_program, device: OpenCLDeviceInfo) -> [UInt8]? {
        var size = 0
        guard clGetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARY_SIZES), MemoryLayout<Int>.size, &size, nil) == CL_SUCCESS,
            size > 0
        else { return nil }
        var binary = [UInt8](repeating: 0, count: size)
        let status = binary.withUnsafeMutableBufferPointer { buffer in
            var pointer: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return clGetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARIES), MemoryLayout<UnsafeMutablePointer<UInt8>?>.size, &pointer, nil)
        }
        return status == CL_SUCCESS ? binary : nil
    }

    /// Compiles `source`; a failure carries the build log.
    private static func compile(_ source: String, context: cl_context, device: OpenCLDeviceInfo) throws -> cl_program {
        var status: cl_int = 0
        let program: cl_program? = source.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            return clCreateProgramWithSource(context, 1, &pointer, nil, &status)
        }
        guard let program else { throw BPNetError.openCL(call: "clCreateProgramWithSource", code: clErrorName(status)) }
        var id: cl_device_id? = device.id
        // Some compilers (PoCL's) print their diagnostics to stderr as well; they belong in the
        // build log, which a failure carries, and not on the user's terminal.
        let built = withStandardErrorSilenced { clBuildProgram(program, 1, &id, buildOptions, nil, nil) }
        if built != CL_SUCCESS {
            let log = (try? OpenCLDeviceInfo.string {
                clGetProgramBuildInfo(program, device.id, cl_program_build_info(CL_PROGRAM_BUILD_LOG), $0, $1, $2)
            }) ?? "(no build log)"
            clReleaseProgram(program)
            if built == CL_BUILD_PROGRAM_FAILURE { throw BPNetError.kernelBuild(device: device.name, log: log) }
            throw BPNetError.openCL(call: "clBuildProgram", code: clErrorName(built))
        }
        return program
    }

    private final class Cache: @unchecked Sendable {
        let lock = NSLock()
        var contexts: [UInt: OpenCLContext] = [:]
    }
    private static let cache = Cache()

    static func shared(_ device: OpenCLDeviceInfo) throws -> OpenCLContext {
        cache.lock.lock()
        defer { cache.lock.unlock() }
        if let existing = cache.contexts[device.deviceBits] { return existing }
        let created = try OpenCLContext(device: device)
        cache.contexts[device.deviceBits] = created
        return created
    }
}

/// Launches recorded by a profiled backend; owns their events.
final class KernelProfile {
    var launches: [(name: String, event: cl_event)] = []

    func clear() {
        for (_, event) in launches { clReleaseEvent(event) }
        launches.removeAll()
    }

    deinit { clear() }
}

/// Sets one kernel argument from a value's bytes.
@inline(__always)
private func setArgument<T>(_ kernel: cl_kernel, _ index: inout cl_uint, _ value: T) throws {
    var copy = value
    let status = withUnsafeBytes(of: &copy) { clSetKernelArg(kernel, index, $0.count, $0.baseAddress) }
    try clCheck(status, "clSetKernelArg(\(index))")
    index += 1
}

/// The OpenCL backend: weights, data and working memory stay on the device; operations are
/// queued in order without waiting. Downloads and `synchronize` block until the queue has run;
/// uploads block only until their host values are copied.
public final class OpenCLBackend: Backend, GeneralForms, @unchecked Sendable {
    let runtime: OpenCLContext
    /// The family asked for; nil runs the device's (`OpenCLTuning`, or `BPNET_OPENCL_FAMILY`).
    public let chosenFamily: GEMMFamily?
    public var device: OpenCLDeviceInfo { runtime.device }
    /// The launches of a profiled backend, each with its event, until `kernelTimes()` reads them.
    private let profile: KernelProfile?
    /// Channels per work item of the NHWC image kernels: the device's (`OpenCLTuning.channelSpan`)
    /// unless a test asks for another; any span gives the same bits.
    let channelSpan: Int

    init(runtime: OpenCLContext, family: GEMMFamily?, profiled: Bool = false, channelSpan: Int? = nil) {
        self.runtime = runtime
        chosenFamily = family
        profile = profiled ? KernelProfile() : nil
        self.channelSpan = max(1, channelSpan ?? runtime.tuning.channelSpan)
    }

    /// The same device and kernels, recording an event per launch for `kernelTimes()`.
    public func profiled() -> OpenCLBackend {
        OpenCLBackend(runtime: runtime, family: chosenFamily, profiled: true, channelSpan: channelSpan)
    }

    /// The same device and kernels, with the image kernels taking `span` channels per work item.
    func withChannelSpan(_ span: Int) -> OpenCLBackend {
        OpenCLBackend(runtime: runtime, family: chosenFamily, profiled: profile != nil, channelSpan: span)
    }

    /// Device time per kernel since the last call, from the launches' profiling events
    /// (CL_PROFILING_COMMAND_START to _END), in order of first launch. Waits for the queue.
    public func kernelTimes() throws -> OperationTimes {
        var times = OperationTimes()
        guard let profile else { return times }
        try synchronize()
        defer { profile.clear() }
        for (name, event) in profile.launches {
            var start: cl_ulong = 0, end: cl_ulong = 0
            try clCheck(
                clGetEventProfilingInfo(event, cl_profiling_info(CL_PROFILING_COMMAND_START), 8, &start, nil),
                "clGetEventProfilingInfo")
            try clCheck(
                clGetEventProfilingInfo(event, cl_profiling_info(CL_PROFILING_COMMAND_END), 8, &end, nil),
                "clGetEventProfilingInfo")
            times.add(name, seconds: Double(end &- start) * 1e-9)
        }
        return times
    }

    /// Forgets the launches recorded so far.
    public func resetKernelTimes() throws {
        try synchronize()
        profile?.clear()
    }

    /// The backend on `device`, sharing the process's one context, queue and program for it.
    public static func shared(_ device: OpenCLDeviceInfo, family: GEMMFamily? = nil) throws -> OpenCLBackend {
        OpenCLBackend(runtime: try OpenCLContext.shared(device), family: family)
    }

    /// Checks the variables that tune OpenCL kernels (`BPNET_OPENCL_FAMILY`, `BPNET_GEMM_TUNING`)
    /// without opening a device: `bpnet` calls it for every command, so that a typo is an error
    /// on the CPU too.
    public static func checkTuningEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        try OpenCLTuning.checkEnvironment(environment)
    }

    /// The same device and queue with other kernels.
    public func with(_ family: GEMMFamily) -> OpenCLBackend {
        OpenCLBackend(runtime: runtime, family: family, profiled: profile != nil)
    }

    /// The same device and queue with the device's own family.
    public var tuned: OpenCLBackend { OpenCLBackend(runtime: runtime, family: nil, profiled: profile != nil) }

    /// The GEMM family that runs: the chosen one, or the device's (or `BPNET_OPENCL_FAMILY`'s).
    public var family: GEMMFamily { chosenFamily ?? runtime.tuning.family }

    /// The device's global memory and its largest allocation.
    public var memoryLimits: MemoryLimits? {
        let total = Double(device.globalMemoryBytes)
        let largest = device.maxAllocationBytes == 0 ? total : Double(device.maxAllocationBytes)
        return total > 0 ? MemoryLimits(totalBytes: total, largestBufferBytes: largest, sharesHostMemory: device.type == "CPU") : nil
    }

    public var description: String {
        "opencl:\(device.index) (\(device.name), \(device.platform), \(device.type))"
            + (chosenFamily.map { " with \($0.rawValue) kernels" } ?? "")
    }

    @inline(__always) func memory(_ buffer: any DeviceBuffer) -> cl_mem {
        unsafeDowncast(buffer as AnyObject, to: OpenCLBuffer.self).memory
    }

    public func makeBuffer(count: Int) throws -> any DeviceBuffer {
        try OpenCLBuffer(zeros: count, context: runtime.context)
    }

    public func makeIndexBuffer(count: Int) throws -> any DeviceBuffer {
        try OpenCLBuffer(zeros: count, context: runtime.context)  // int32 and float32 share a size
    }

    public func upload(_ values: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, offset: Int) throws {
        precondition(offset + values.count <= buffer.count, "upload past the end of a buffer")
        guard !values.isEmpty else { return }
        try clCheck(
            clEnqueueWriteBuffer(
                runtime.queue, memory(buffer), cl_bool(CL_TRUE), offset * 4, values.count * 4, values.baseAddress, 0, nil, nil),
            "clEnqueueWriteBuffer")
    }

    public func uploadIndices(_ values: UnsafeBufferPointer<Int32>, to buffer: any DeviceBuffer) throws {
        precondition(values.count <= buffer.count, "upload past the end of a buffer")
        guard !values.isEmpty else { return }
        try clCheck(
            clEnqueueWriteBuffer(
                runtime.queue, memory(buffer), cl_bool(CL_TRUE), 0, values.count * 4, values.baseAddress, 0, nil, nil),
            "clEnqueueWriteBuffer")
    }

    public func download(_ buffer: any DeviceBuffer, into values: UnsafeMutableBufferPointer<Float>) throws {
        precondition(values.count <= buffer.count, "download past the end of a buffer")
        guard !values.isEmpty else { return }
        try clCheck(
            clEnqueueReadBuffer(
                runtime.queue, memory(buffer), cl_bool(CL_TRUE), 0, values.count * 4, values.baseAddress, 0, nil, nil),
            "clEnqueueReadBuffer")
    }

    public func synchronize() throws { try clCheck(clFinish(runtime.queue), "clFinish") }

    /// Sub-buffers of one buffer, each at a multiple of CL_DEVICE_MEM_BASE_ADDR_ALIGN.
    public func makeBufferGroup(counts: [Int]) throws -> BufferGroup {
        var alignBits: cl_uint = 0
        try clCheck(
            clGetDeviceInfo(runtime.device.id, cl_device_info(CL_DEVICE_MEM_BASE_ADDR_ALIGN), MemoryLayout<cl_uint>.size, &alignBits, nil),
            "clGetDeviceInfo(CL_DEVICE_MEM_BASE_ADDR_ALIGN)")
        // Parts start on the device's base alignment, rounded up to a whole optimizer lane group,
        // so that the arena's one-launch step groups each tensor's elements as a launch per part does.
        let lanes = KernelConstants.optimizerLanes
        let base = max(1, Int(alignBits) / 32)
        var (a, b) = (base, lanes)
        while b != 0 { (a, b) = (b, a % b) }
        let alignment = base / a * lanes  // the least common multiple
        let (offsets, total) = BufferGroup.layout(counts, alignment: alignment)
        let whole = try OpenCLBuffer(zeros: total, context: runtime.context)
        return BufferGroup(
            whole: whole, parts: try zip(offsets, counts).map { try OpenCLBuffer(subBufferOf: whole, offset: $0, count: $1) },
            offsets: offsets)
    }

    /// A buffer the driver allocates in host memory (CL_MEM_ALLOC_HOST_PTR), mapped once for the
    /// object's life: on discrete GPUs this is the page-locked memory that reads and writes at
    /// full speed; on PoCL it is ordinary memory.
    public func makeTransferMemory(count: Int) throws -> TransferMemory {
        var status: cl_int = 0
        guard let memory = clCreateBuffer(
            runtime.context, cl_mem_flags(CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR), max(count, 1) * 4, nil, &status),
            status == CL_SUCCESS
        else { throw BPNetError.openCL(call: "clCreateBuffer(\(count) floats, CL_MEM_ALLOC_HOST_PTR)", code: clErrorName(status)) }
        let mapped = clEnqueueMapBuffer(
            runtime.queue, memory, cl_bool(CL_TRUE), cl_map_flags(CL_MAP_READ | CL_MAP_WRITE), 0, max(count, 1) * 4, 0, nil, nil, &status)
        guard let mapped, status == CL_SUCCESS else {
            clReleaseMemObject(memory)
            throw BPNetError.openCL(call: "clEnqueueMapBuffer(\(count) floats)", code: clErrorName(status))
        }
        let values = UnsafeMutableBufferPointer(start: mapped.assumingMemoryBound(to: Float.self), count: count)
        values.initialize(repeating: 0)
        // Retained, so that memory outliving this backend still unmaps on a live queue.
        let queue = runtime.queue
        clRetainCommandQueue(queue)
        return TransferMemory(values: values) {
            clEnqueueUnmapMemObject(queue, memory, mapped, 0, nil, nil)
            clFinish(queue)
            clReleaseMemObject(memory)
            clReleaseCommandQueue(queue)
        }
    }

    /// Enqueues `name` over `global` items (rounded up to whole work groups of `local`).
    func launch<each Argument>(
        _ name: OpenCLContext.Kernel, global: (Int, Int), local: (Int, Int), _ arguments: repeat each Argument
    ) throws {
        let kernel = runtime.kernel(name)
        runtime.lock.lock()
        defer { runtime.lock.unlock() }
        var index: cl_uint = 0
        repeat try setArgument(kernel, &index, each arguments)
        var globalSize = (roundUp(global.0, local.0), roundUp(global.1, local.1))
        var localSize = local
        let status = withUnsafePointer(to: &globalSize) { g in
            withUnsafePointer(to: &localSize) { l in
                g.withMemoryRebound(to: Int.self, capacity: 2) { g in
                    l.withMemoryRebound(to: Int.self, capacity: 2) { l in
                        guard let profile else {
                            return clEnqueueNDRangeKernel(runtime.queue, kernel, 2, nil, g, l, 0, nil, nil)
                        }
                        var event: cl_event?
                        let status = clEnqueueNDRangeKernel(runtime.queue, kernel, 2, nil, g, l, 0, nil, &event)
                        if let event { profile.launches.append((name.name, event)) }
                        return status
                    }
                }
            }
        }
        try clCheck(status, "clEnqueueNDRangeKernel(\(name.name))")
    }

    private func roundUp(_ value: Int, _ multiple: Int) -> Int { max(1, (value + multiple - 1) / multiple) * multiple }

    /// Work items for `count` values taken `lanes` at a time.
    private func groups(_ count: Int, _ lanes: Int) -> Int { (count + lanes - 1) / lanes }

    private typealias Epilogue = KernelConstants.Epilogue

    /// A bias that a product computes from the row sums of op(A), in its own launch (gemm.cl).
    private struct BiasOutput {
        var kind: KernelConstants.BiasEpilogue
        var bias: any DeviceBuffer
        /// The bias's velocity for `.sgd`, its first moment for `.adam`.
        var aux: any DeviceBuffer
        /// The bias's second moment for `.adam`.
        var aux2: (any DeviceBuffer)? = nil
        /// The divisor of the bias gradient's row sums (`.gradient`, `.adam`).
        var samples: Int = 1
        var scale: Float = 0
        var momentum: Float = 0
    }

    /// The second state buffer and the scalars of the Adam epilogues: (η, l2, β₁, β₂, ε, decay, c₁, c₂).
    private struct AdamArguments {
        var secondMoment: any DeviceBuffer
        var scalars: SIMD8<Float>

        init(_ step: OptimizerStep, secondMoment: any DeviceBuffer) {
            self.secondMoment = secondMoment
            let adam = step.adam
            scalars = SIMD8(
                step.learningRate, step.l2, adam.beta1, adam.beta2, adam.epsilon, step.decoupledDecay, adam.correction1,
                adam.correction2)
        }
    }

    /// C: [m, n] = epilogue(op(A)·op(B)), by the tuned or the reference kernel; `function` is the
    /// activation that the activation epilogues apply.
    private func product(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer, aux: any DeviceBuffer,
        epilogue: Epilogue, function: Activation = .identity, alpha: Float = 1, beta: Float = 0, gamma: Float = 0,
        bias: BiasOutput? = nil, adam: AdamArguments? = nil
    ) throws {
        let tuning = runtime.tuning
        let (M, N, K) = (Int32(m), Int32(n), Int32(k))
        // The bias's column block, past C's last; unused bias arguments still need a valid buffer.
        let extraBlock = bias == nil ? 0 : 1
        let (biasMemory, biasAux) = (memory(bias?.bias ?? c), memory(bias?.aux ?? c))
        let biasKind = (bias?.kind ?? .none).rawValue, biasScale = bias?.scale ?? 0, biasMomentum = bias?.momentum ?? 0
        let biasSamples = Int32(bias?.samples ?? 1)
        let (aux2, biasAux2) = (memory(adam?.secondMoment ?? c), memory(bias?.aux2 ?? c))
        let adamScalars = adam?.scalars ?? SIMD8<Float>()
        func blocks(_ count: Int, _ size: Int) -> Int { (count + size - 1) / size }
        let kernel: OpenCLContext.Kernel, global: (Int, Int), local: (Int, Int)
        switch (family, transposeA, transposeB) {
        case (.naive, _, _):
            return try launch(
                .gemmNaive, global: (n + extraBlock, m), local: tuning.blockedLocal,
                M, N, K, Int32(transposeA ? 1 : 0), Int32(transposeB ? 1 : 0), alpha, beta, gamma,
                memory(a), memory(b), memory(c), memory(aux), epilogue.rawValue, function.code, function.parameter,
                biasMemory, biasAux, biasKind, biasScale, biasMomentum, aux2, biasAux2, adamScalars, biasSamples)
        case (.vector, true, false) where n < tuning.vectorLanes, (.vector, false, true) where k < tuning.vectorLanes:
            // Where the vector kernel's vectors would be empty, the register-blocked kernel runs:
            // a gradient narrower than one vector (a first convolution's Cin·K·K columns), where the
            // row-vector kernel's scalar path gives each work item GEMM_VM whole rows of C, too few
            // items to fill the device; and a forward product with K under one vector, all of it the
            // dot kernel's scalar tail. On PoCL 3.1 (Zen 4), at config E's first convolution (its
            // Cin·K·K is 9): the gradient 32×9×50176 at 11–13.5 GFLOP/s against 3.0–8.3 — and the
            // forward 50176×32×9 at 6.2 against 3.1.
            kernel = transposeA ? .gemmBlockedTN : .gemmBlockedNT
            global = (blocks(n, tuning.blockedTN) + extraBlock, blocks(m, tuning.blockedTM))
            local = tuning.blockedLocal
        case (.vector, _, false):
            kernel = transposeA ? .gemmRowVectorTN : .gemmRowVectorNN
            global = (blocks(n, tuning.vectorLanes * tuning.rowVectorColumns) + extraBlock, blocks(m, tuning.rowVectorRows))
            local = tuning.vectorLocal
        case (.vector, false, true):
            kernel = .gemmDotNT
            global = (blocks(n, tuning.dotColumns) + extraBlock, blocks(m, tuning.dotRows))
            local = tuning.vectorLocal
        default:
            kernel = transposeA ? (transposeB ? .gemmBlockedTT : .gemmBlockedTN) : (transposeB ? .gemmBlockedNT : .gemmBlockedNN)
            global = (blocks(n, tuning.blockedTN) + extraBlock, blocks(m, tuning.blockedTM))
            local = tuning.blockedLocal
        }
        try launch(
            kernel, global: global, local: local,
            M, N, K, alpha, beta, gamma, memory(a), memory(b), memory(c), memory(aux), epilogue.rawValue, function.code, function.parameter,
            biasMemory, biasAux, biasKind, biasScale, biasMomentum, aux2, biasAux2, adamScalars, biasSamples)
    }

    public func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: any DeviceBuffer, b: any DeviceBuffer, beta: Float, c: any DeviceBuffer
    ) throws {
        try product(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, b: b, c: c, aux: c,
            epilogue: .none, alpha: alpha, beta: beta)
    }

    var elementLocal: (Int, Int) { (runtime.tuning.elementLocal, 1) }

    public func addBiasActivation(_ x: any DeviceBuffer, bias: any DeviceBuffer, rows: Int, columns: Int, activation: Activation) throws {
        if activation == .softmax {
            return try launch(.softmaxRows, global: (rows, 1), local: elementLocal, memory(x), memory(bias), Int32(rows), Int32(columns))
        }
        try launch(
            .addBiasActivation, global: (columns, rows), local: elementLocal,
            memory(x), memory(bias), Int32(rows), Int32(columns), activation.code, activation.parameter)
    }

    /// The naive family runs the unfused form; the others fuse bias and an element-wise activation
    /// into the GEMM, and softmax follows as its own row pass.
    public func linear(
        input: any DeviceBuffer, weights: any DeviceBuffer, bias: any DeviceBuffer, output: any DeviceBuffer,
        rows: Int, inputs: Int, outputs: Int, activation: Activation
    ) throws {
        guard family != .naive, activation != .softmax else {
            return try unfusedLinear(
                input: input, weights: weights, bias: bias, output: output, rows: rows, inputs: inputs, outputs: outputs,
                activation: activation)
        }
        try product(
            transposeA: false, transposeB: true, m: rows, n: outputs, k: inputs,
            a: input, b: weights, c: output, aux: bias, epilogue: .biasActivation, function: activation)
    }

    public func outputDelta(
        _ loss: Loss, output: Activation, activation: any DeviceBuffer, target: any DeviceBuffer,
        delta: any DeviceBuffer, count: Int
    ) throws {
        try launch(
            .outputDelta, global: (count, 1), local: elementLocal,
            memory(activation), memory(target), memory(delta), Int32(count), loss.code, output.code, output.parameter)
    }

    public func hiddenDelta(
        deltaNext: any DeviceBuffer, weightsNext: any DeviceBuffer, activation: any DeviceBuffer,
        delta: any DeviceBuffer, rows: Int, units: Int, nextUnits: Int, function: Activation
    ) throws {
        guard family != .naive else {
            try gemm(
                transposeA: false, transposeB: false, m: rows, n: units, k: nextUnits,
                alpha: 1, a: deltaNext, b: weightsNext, beta: 0, c: delta)
            return try launch(
                .activationBackward, global: (rows * units, 1), local: elementLocal,
                memory(delta), memory(activation), Int32(rows * units), function.code, function.parameter)
        }
        try product(
            transposeA: false, transposeB: false, m: rows, n: units, k: nextUnits,
            a: deltaNext, b: weightsNext, c: delta, aux: activation, epilogue: .activationGrad, function: function)
    }

    public func biasGradient(delta: any DeviceBuffer, gradient: any DeviceBuffer, rows: Int, samples: Int, outputs: Int) throws {
        try launch(
            .biasGradient, global: (outputs, 1), local: elementLocal, memory(delta), memory(gradient), Int32(rows), Int32(outputs),
            Int32(samples))
    }

    public func optimizerStep(
        _ step: OptimizerStep, parameters: any DeviceBuffer, gradient: any DeviceBuffer, state: [any DeviceBuffer], count: Int
    ) throws {
        try optimizerStep(step, parameters: parameters, gradient: gradient, state: state, count: count, ruleCode: step.optimizer.code)
    }

    /// `optimizerStep` with the rule's code as the kernel receives it: tests pass a code that no
    /// rule has, which must change nothing.
    func optimizerStep(
        _ step: OptimizerStep, parameters: any DeviceBuffer, gradient: any DeviceBuffer, state: [any DeviceBuffer], count: Int,
        ruleCode: Int32
    ) throws {
        let adam = step.adam
        // Unused state arguments still need a valid buffer: the parameters stand in.
        let first = state.first ?? parameters, second = state.count > 1 ? state[1] : parameters
        try launch(
            .optimizerStep, global: (groups(count, KernelConstants.optimizerLanes), 1), local: elementLocal,
            memory(parameters), memory(gradient), memory(first), memory(second), Int32(count), ruleCode,
            Int32(state.count), step.learningRate, step.l2, step.momentum, adam.beta1, adam.beta2,
            adam.epsilon, step.decoupledDecay, adam.correction1, adam.correction2)
    }

    /// One launch over the whole arena when the bias step is the weight step without L2 and
    /// decay, as the trainer's always is, and every tensor starts on a lane group (as
    /// `makeBufferGroup` lays them out), so that each group's arithmetic is that of one launch per
    /// tensor.
    public func optimizerStep(weightStep: OptimizerStep, biasStep: OptimizerStep, arena: ArenaBuffers) throws {
        let lanes = KernelConstants.optimizerLanes
        let total = arena.span
        guard weightStep.withoutWeightTerms == biasStep, arena.segments.allSatisfy({ $0.offset % lanes == 0 }),
            total <= arena.parameters.whole.count, total <= Int(Int32.max) - lanes
        else {
            return try stepEachTensor(weightStep: weightStep, biasStep: biasStep, arena: arena)
        }
        let adam = weightStep.adam
        // Unused state arguments still need a valid buffer: the parameters stand in.
        let parameters = arena.parameters.whole
        let first = arena.state.first?.whole ?? parameters, second = arena.state.count > 1 ? arena.state[1].whole : parameters
        try launch(
            .optimizerStepArena, global: (groups(total, lanes), 1), local: elementLocal,
            memory(parameters), memory(arena.gradients.whole), memory(first), memory(second), memory(arena.table),
            Int32(arena.segments.count), weightStep.optimizer.code, Int32(arena.state.count), weightStep.learningRate,
            weightStep.l2, weightStep.momentum, adam.beta1, adam.beta2, adam.epsilon, weightStep.decoupledDecay, adam.correction1,
            adam.correction2)
    }

    /// One work group (`clip_to_global_norm`): the sum of squares and the scaling in one launch.
    public func clipToGlobalNorm(_ x: any DeviceBuffer, count: Int, maxNorm: Float) throws {
        precondition(count <= x.count, "clipping past the end of a buffer")
        let group = runtime.tuning.metricsGroup
        // A work item's index runs one group past its last element.
        guard count <= Int(Int32.max) - group else {
            throw BPNetError.invalidArgument(
                "clipToGlobalNorm: \(count) gradients are past the OpenCL kernels' 32-bit indexing (at most \(Int(Int32.max) - group))")
        }
        guard count > 0 else { return }
        try launch(.clipToGlobalNorm, global: (group, 1), local: (group, 1), memory(x), Int32(count), maxNorm)
    }

    /// Every family keeps the SGD update in the GEMM epilogue: the naive kernel too, so that the
    /// reference path checks the epilogue's arithmetic; the unfused update is `optimizerStep`.
    public func updateWeights(
        weights: any DeviceBuffer, velocity: any DeviceBuffer, delta: any DeviceBuffer,
        input: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int,
        learningRate: Float, l2: Float, momentum: Float
    ) throws {
        try product(
            transposeA: true, transposeB: false, m: outputs, n: inputs, k: rows,
            a: delta, b: input, c: velocity, aux: weights, epilogue: .sgd,
            alpha: -learningRate / Float(samples), beta: momentum, gamma: learningRate * l2)
    }

    /// One launch: the weight gradient's product computes the bias gradient in an extra column block.
    public func layerGradients(
        delta: any DeviceBuffer, input: any DeviceBuffer, weightGradient: any DeviceBuffer, biasGradient: any DeviceBuffer,
        rows: Int, samples: Int, outputs: Int, inputs: Int
    ) throws {
        try product(
            transposeA: true, transposeB: false, m: outputs, n: inputs, k: rows, a: delta, b: input, c: weightGradient,
            aux: weightGradient, epilogue: .none, alpha: 1 / Float(samples), bias: BiasOutput(kind: .gradient, bias: biasGradient, aux: biasGradient, samples: samples))
    }

    /// One launch: the SGD weight update's product updates the bias in an extra column block.
    public func updateLayer(
        weights: any DeviceBuffer, weightVelocity: any DeviceBuffer, bias: any DeviceBuffer, biasVelocity: any DeviceBuffer,
        delta: any DeviceBuffer, input: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int,
        learningRate: Float, l2: Float, momentum: Float
    ) throws {
        try product(
            transposeA: true, transposeB: false, m: outputs, n: inputs, k: rows,
            a: delta, b: input, c: weightVelocity, aux: weights, epilogue: .sgd,
            alpha: -learningRate / Float(samples), beta: momentum, gamma: learningRate * l2,
            bias: BiasOutput(kind: .sgd, bias: bias, aux: biasVelocity, scale: learningRate / Float(samples), momentum: momentum))
    }

    /// Adam and AdamW run in the gradient product's epilogue (`EPILOGUE_ADAM`).
    public func fusesGradientStep(weightStep: OptimizerStep, biasStep: OptimizerStep) -> Bool {
        switch weightStep.optimizer {
        case .adam, .adamw: return weightStep.withoutWeightTerms == biasStep
        case .sgd, .nesterov, .rmsprop: return false
        }
    }

    /// Adam and AdamW in one launch per layer: the weight-gradient product applies the step to the
    /// weights in its epilogue and to the biases in its extra column block, with the gradients in
    /// registers. Other rules take the general form.
    public func gradientStepLayer(
        weightStep: OptimizerStep, weights: any DeviceBuffer, weightState: [any DeviceBuffer], biasStep: OptimizerStep,
        bias: any DeviceBuffer, biasState: [any DeviceBuffer], delta: any DeviceBuffer, input: any DeviceBuffer,
        weightGradient: any DeviceBuffer, biasGradient: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int
    ) throws {
        guard fusesGradientStep(weightStep: weightStep, biasStep: biasStep), weightState.count == 2, biasState.count == 2 else {
            return try gradientsThenStepLayer(
                weightStep: weightStep, weights: weights, weightState: weightState, biasStep: biasStep, bias: bias,
                biasState: biasState, delta: delta, input: input, weightGradient: weightGradient, biasGradient: biasGradient,
                rows: rows, samples: samples, outputs: outputs, inputs: inputs)
        }
        try product(
            transposeA: true, transposeB: false, m: outputs, n: inputs, k: rows, a: delta, b: input, c: weightState[0],
            aux: weights, epilogue: .adam, alpha: 1 / Float(samples),
            bias: BiasOutput(kind: .adam, bias: bias, aux: biasState[0], aux2: biasState[1], samples: samples),
            adam: AdamArguments(weightStep, secondMoment: weightState[1]))
    }

    public func updateBias(
        bias: any DeviceBuffer, velocity: any DeviceBuffer, delta: any DeviceBuffer,
        rows: Int, samples: Int, outputs: Int, learningRate: Float, momentum: Float
    ) throws {
        try launch(
            .updateBias, global: (outputs, 1), local: elementLocal,
            memory(bias), memory(velocity), memory(delta), Int32(rows), Int32(outputs),
            learningRate / Float(samples), momentum)
    }

    public func dropoutMask(
        _ mask: any DeviceBuffer, count: Int, rate: Float, scale: Float, seed: UInt64, step: UInt64, layer: Int, firstElement: Int
    ) throws {
        try launch(
            .dropoutMask, global: (groups(count, KernelConstants.dropoutLanes), 1),
            local: elementLocal, memory(mask), Int32(count), rate, scale,
            UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32),
            UInt32(truncatingIfNeeded: step), UInt32(truncatingIfNeeded: step >> 32), UInt32(layer), UInt32(firstElement))
    }

    public func augmentImages(
        _ images: any DeviceBuffer, into output: any DeviceBuffer, indices: any DeviceBuffer, offset: Int, rows: Int,
        channels: Int, height: Int, width: Int, augmentation: Augmentation, key: UInt64, epoch: Int
    ) throws {
        let size = channels * height * width
        precondition(images.count >= rows * size && output.count >= rows * size && indices.count >= offset + rows,
                     "augmentation past the end of a buffer")
        guard rows * size <= Int(Int32.max), offset + rows <= Int(Int32.max) else {
            throw BPNetError.invalidArgument("augmentImages: \(rows) images of \(size) values are past the kernels' 32-bit indexing")
        }
        guard rows > 0, size > 0 else { return }
        try launch(
            .augmentImages, global: (size, rows), local: elementLocal, memory(images), memory(output), memory(indices), Int32(offset),
            Int32(rows), Int32(channels), Int32(height), Int32(width), Int32(augmentation.cropPadding), Int32(augmentation.flip ? 1 : 0),
            UInt32(truncatingIfNeeded: key), UInt32(truncatingIfNeeded: key >> 32), UInt32(truncatingIfNeeded: epoch))
    }

    public func multiply(_ x: any DeviceBuffer, by mask: any DeviceBuffer, into output: any DeviceBuffer, count: Int) throws {
        try launch(.multiply, global: (count, 1), local: elementLocal, memory(x), memory(mask), memory(output), Int32(count))
    }

    public func gather(
        source: any DeviceBuffer, rowLength: Int, indices: any DeviceBuffer, offset: Int,
        rows: Int, into destination: any DeviceBuffer
    ) throws {
        try launch(
            .gatherRows, global: ((rowLength + runtime.tuning.gatherSpan - 1) / runtime.tuning.gatherSpan, rows),
            local: (runtime.tuning.elementLocal, 1),
            memory(source), Int32(rowLength), memory(indices), Int32(offset), Int32(rows), memory(destination))
    }

    /// One launch for both gathers: a step's smallest kernels, where the launch costs more than the copy.
    public func gatherBatch(
        inputs: any DeviceBuffer, inputLength: Int, targets: any DeviceBuffer, targetLength: Int, indices: any DeviceBuffer,
        offset: Int, rows: Int, intoInputs: any DeviceBuffer, intoTargets: any DeviceBuffer
    ) throws {
        let span = runtime.tuning.gatherSpan
        try launch(
            .gatherBatch, global: ((inputLength + targetLength + span - 1) / span, rows), local: (runtime.tuning.elementLocal, 1),
            memory(inputs), Int32(inputLength), memory(targets), Int32(targetLength), memory(indices), Int32(offset), Int32(rows),
            memory(intoInputs), memory(intoTargets))
    }

    public func batchMetrics(
        _ loss: Loss, activation: any DeviceBuffer, target: any DeviceBuffer,
        rows: Int, columns: Int, into metrics: any DeviceBuffer, slot: Int
    ) throws {
        let group = runtime.tuning.metricsGroup
        try launch(
            .batchMetrics, global: (group, 1), local: (group, 1),
            memory(activation), memory(target), Int32(rows), Int32(columns), loss.code, memory(metrics), Int32(slot))
    }

    /// Outputs up to this many values take the fused kernel: its one work group writes them
    /// faster than a second launch costs (a classifier's batch of 128 × 10 is 1 280).
    static let fusedOutputDeltaLimit = 16_384

    /// One launch for a step's batch metrics and output delta, when the output batch is small.
    public func metricsAndOutputDelta(
        _ loss: Loss, output: Activation, activation: any DeviceBuffer, target: any DeviceBuffer, delta: any DeviceBuffer,
        rows: Int, columns: Int, into metrics: any DeviceBuffer, slot: Int
    ) throws {
        guard rows * columns <= Self.fusedOutputDeltaLimit else {
            try batchMetrics(loss, activation: activation, target: target, rows: rows, columns: columns, into: metrics, slot: slot)
            return try outputDelta(loss, output: output, activation: activation, target: target, delta: delta, count: rows * columns)
        }
        let group = runtime.tuning.metricsGroup
        try launch(
            .metricsAndOutputDelta, global: (group, 1), local: (group, 1),
            memory(activation), memory(target), memory(delta), Int32(rows), Int32(columns), loss.code, output.code,
            output.parameter, memory(metrics), Int32(slot))
    }
}

/// Runs `body` with file descriptor 2 pointed at /dev/null, then restores it. Process-wide: only
/// for short calls, such as a program build, whose own stderr output duplicates what they return.
private func withStandardErrorSilenced<T>(_ body: () -> T) -> T {
    fflush(nil)
    let saved = dup(2)
    let null = open("/dev/null", O_WRONLY)
    guard saved >= 0, null >= 0 else {
        if saved >= 0 { close(saved) }
        if null >= 0 { close(null) }
        return body()
    }
    dup2(null, 2)
    close(null)
    defer {
        fflush(nil)
        dup2(saved, 2)
        close(saved)
    }
    return body()
}
