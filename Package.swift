// swift-tools-version: 6.0
import PackageDescription

// Modules follow the data flow, dependencies pointing one way: numbers and formats → suite →
// data → the device interface and its figures (SystolicDevice) → what a run records
// (SystolicResults) → {the check, the emulator, the protocol} → {the harness, the process
// adapter} → {comparison, certification} → the command-line tool. The check never depends on the
// emulator (.ci/check-seams.py enforces it): the reference that judges a device must not share
// its code. docs/architecture.md has the whole map.

// No unsafe build flags: SwiftPM refuses them in a package used as a versioned dependency
// (scripts/check-as-dependency.sh builds one). The C kernels turn contraction off with a pragma and
// pick their instruction sets per function.

let package = Package(
    name: "SystolicBench",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "systolic-bench", targets: ["SystolicBenchCLI"]),
        .executable(name: "systolic-bench-reference-adapter", targets: ["SystolicReferenceAdapter"]),
        .executable(name: "systolic-bench-example-c-adapter", targets: ["SystolicExampleCAdapter"]),
        .library(name: "SystolicAdapterSDK", targets: ["SystolicAdapterSDK"]),
        .library(name: "SystolicHarness", targets: ["SystolicHarness", "SystolicResults"]),
        .library(name: "SystolicEmulation", targets: ["SystolicEmulation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .target(name: "SystolicJSON"),
        // The hot loops in C: AVX2/FMA paths chosen at run time by CPUID, so no build flag ties
        // the package to one CPU; contraction off (a pragma in each file) so the compiler never
        // fuses what the documented order rounds separately. The emulator's kernels and the
        // check's reference kernels share only the platform (instruction set, scratch memory).
        .target(name: "CSystolicPlatform"),
        // Starting adapters under a supervisor that contains their whole process tree.
        .target(name: "CSystolicContainment"),
        .target(name: "CSystolicKernels", dependencies: ["CSystolicPlatform"]),
        // The check's reference kernels, written apart from the emulator's on purpose.
        .target(name: "CSystolicReference", dependencies: ["CSystolicPlatform"]),
        .target(name: "SystolicNumerics"),
        .target(name: "SystolicSuite", dependencies: ["SystolicJSON", "SystolicNumerics"]),
        .target(name: "SystolicData", dependencies: ["SystolicNumerics", "SystolicSuite"]),
        // The device interface and the figures it reports: what every device, the check and the
        // harness share. No emulator here.
        .target(name: "SystolicDevice", dependencies: ["SystolicJSON", "SystolicNumerics", "SystolicSuite", "SystolicData"]),
        // What a run records: verdicts, check reports, results files.
        .target(name: "SystolicResults", dependencies: ["SystolicJSON", "SystolicDevice"]),
        // The reference systolic emulator: one device behind that interface.
        .target(
            name: "SystolicEmulation",
            dependencies: ["SystolicJSON", "SystolicNumerics", "SystolicSuite", "SystolicData", "SystolicDevice", "CSystolicKernels"],
            resources: [.copy("Presets")]
        ),
        .target(name: "SystolicCheck", dependencies: ["SystolicNumerics", "SystolicSuite", "SystolicDevice", "SystolicResults", "CSystolicReference"]),
        .target(
            name: "SystolicHarness",
            dependencies: [
                "SystolicJSON", "SystolicNumerics", "SystolicSuite", "SystolicData",
                "SystolicDevice", "SystolicResults", "SystolicCheck", "CSystolicPlatform",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(name: "SystolicCompare", dependencies: ["SystolicJSON", "SystolicDevice", "SystolicResults"]),
        .target(
            name: "SystolicCertify",
            dependencies: ["SystolicJSON", "SystolicNumerics", "SystolicSuite", "SystolicData", "SystolicDevice", "SystolicEmulation", "SystolicCheck", "SystolicHarness"]
        ),
        .target(name: "SystolicProtocol", dependencies: ["SystolicJSON", "SystolicNumerics", "SystolicSuite", "SystolicDevice"]),
        .target(
            name: "SystolicProcess",
            dependencies: [
                "SystolicJSON", "SystolicNumerics", "SystolicSuite", "SystolicData", "SystolicDevice", "SystolicResults", "SystolicProtocol",
                "CSystolicContainment", .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The C SDK for vendors' adapters, on libjson-c (Debian: libjson-c-dev), and an example adapter.
        .systemLibrary(name: "CJSONC", pkgConfig: "json-c", providers: [.apt(["libjson-c-dev"])]),
        .target(name: "SystolicAdapterSDK", dependencies: ["CJSONC"]),
        .executableTarget(name: "SystolicExampleCAdapter", dependencies: ["SystolicAdapterSDK"], linkerSettings: [.linkedLibrary("m")]),
        .executableTarget(
            name: "SystolicReferenceAdapter",
            dependencies: ["SystolicJSON", "SystolicNumerics", "SystolicSuite", "SystolicData", "SystolicDevice", "SystolicEmulation", "SystolicProtocol"]
        ),
        .executableTarget(
            name: "SystolicBenchCLI",
            dependencies: [
                "SystolicHarness", "SystolicCompare", "SystolicCertify", "SystolicProcess", "SystolicEmulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Helpers, fakes and the cycle-stepped oracle the tests share (never part of a product).
        .target(
            name: "SystolicTestSupport",
            dependencies: ["SystolicNumerics", "SystolicSuite", "SystolicData", "SystolicDevice", "SystolicResults",
                           "SystolicEmulation", "SystolicCheck", "SystolicHarness"],
            path: "Tests/SystolicTestSupport"
        ),
        // One test target per module (or group of modules), so a change rebuilds and reruns what it touches.
        .testTarget(name: "SystolicNumericsTests", dependencies: ["SystolicData", "SystolicNumerics", "SystolicSuite", "SystolicTestSupport"]),
        .testTarget(name: "SystolicSuiteTests", dependencies: ["SystolicJSON", "SystolicNumerics", "SystolicSuite", "SystolicTestSupport"]),
        .testTarget(name: "SystolicCheckTests", dependencies: ["CSystolicPlatform", "SystolicCheck", "SystolicData", "SystolicDevice", "SystolicEmulation", "SystolicHarness", "SystolicNumerics", "SystolicResults", "SystolicSuite", "SystolicTestSupport"]),
        .testTarget(name: "SystolicEmulationTests", dependencies: ["SystolicCertify", "SystolicCheck", "SystolicData", "SystolicDevice", "SystolicEmulation", "SystolicHarness", "SystolicJSON", "SystolicNumerics", "SystolicSuite", "SystolicTestSupport"]),
        .testTarget(name: "SystolicHarnessTests", dependencies: ["CSystolicPlatform", "SystolicCheck", "SystolicData", "SystolicDevice", "SystolicEmulation", "SystolicHarness", "SystolicJSON", "SystolicNumerics", "SystolicResults", "SystolicSuite", "SystolicTestSupport"]),
        .testTarget(name: "SystolicCompareTests", dependencies: ["SystolicCompare", "SystolicDevice", "SystolicHarness", "SystolicJSON", "SystolicResults", "SystolicTestSupport"]),
        .testTarget(name: "SystolicCertifyTests", dependencies: ["SystolicCertify", "SystolicCompare", "SystolicData", "SystolicDevice", "SystolicEmulation", "SystolicHarness", "SystolicJSON", "SystolicNumerics", "SystolicProcess", "SystolicProtocol", "SystolicResults", "SystolicSuite", "SystolicTestSupport"]),
        .testTarget(name: "SystolicProcessTests", dependencies: ["SystolicData", "SystolicDevice", "SystolicHarness", "SystolicJSON", "SystolicNumerics", "SystolicProcess", "SystolicProtocol", "SystolicResults", "SystolicSuite", "SystolicTestSupport"]),
        .testTarget(name: "SystolicBenchCLITests", dependencies: ["SystolicBenchCLI", "SystolicCompare", "SystolicHarness", "SystolicJSON", "SystolicResults", "SystolicTestSupport"]),
    ]
)
