// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "BPNet",
    // MARK: Public products
    products: [
        .library(name: "BPNet", targets: ["BPNet"]),
        // MPICommunicator, for data-parallel training under mpirun; links Open MPI.
        .library(name: "BPNetMPI", targets: ["BPNetMPI"]),
        // ONNXExport, which writes a network as an ONNX model; links swift-protobuf.
        .library(name: "BPNetONNX", targets: ["BPNetONNX"]),
        .executable(name: "bpnet", targets: ["bpnet"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    // MARK: Implementation targets
    targets: [
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "COpenCL", pkgConfig: "OpenCL",
            providers: [.apt(["ocl-icd-opencl-dev", "opencl-headers"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        // Open MPI, for data-parallel training; only `BPNetMPI` and the CLI link it.
        .systemLibrary(
            name: "CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "CMPIShim", dependencies: ["CMPI"]),
        .target(name: "BPNetMPI", dependencies: ["BPNet", "CMPIShim"]),
        // ONNX export: onnx.pb.swift is generated once and committed (see its header), so no
        // build runs protoc or swift-protobuf's plugin.
        .target(
            name: "BPNetONNX",
            dependencies: ["BPNet", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // Vectorized element-wise loops of the CPU backend.
        .target(name: "CPUKernels"),
        .executableTarget(name: "EmbedKernelsTool"),
        .plugin(
            name: "EmbedKernels", capability: .buildTool(),
            dependencies: ["EmbedKernelsTool"]),
        .target(
            name: "BPNet",
            dependencies: ["CBLAS", "COpenCL", "CZlib", "CPUKernels"],
            plugins: ["EmbedKernels"]),
        .executableTarget(
            name: "bpnet",
            dependencies: [
                "BPNet", "BPNetMPI", "BPNetONNX",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // The README's Swift example, compiled so that it cannot rot.
        .executableTarget(name: "BPNetExample", dependencies: ["BPNet"]),
        // The distributed example of docs/distributed.md, compiled likewise (it needs mpirun and Fashion-MNIST to run).
        .executableTarget(name: "BPNetDistributedExample", dependencies: ["BPNet", "BPNetMPI"]),
        // The ONNX example of docs/onnx.md, compiled likewise.
        .executableTarget(name: "BPNetONNXExample", dependencies: ["BPNet", "BPNetONNX"]),
        // MARK: Tests
        // The float64 reference and test-data helpers both suites check against.
        .target(name: "BPNetTestSupport", dependencies: ["BPNet"], path: "Tests/BPNetTestSupport"),
        .testTarget(name: "BPNetTests", dependencies: ["BPNet", "BPNetONNX", "BPNetTestSupport", "CBLAS", "CPUKernels", "CZlib"]),
        .testTarget(name: "OpenCLTests", dependencies: ["BPNet", "BPNetTestSupport", "COpenCL"]),
    ]
)
