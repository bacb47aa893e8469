import Foundation

/// Where samples come from: a named data set, a folder of IDX files, or a CSV file.
public enum DataSource: Equatable, Sendable, CustomStringConvertible {
    /// Fashion-MNIST as Debian's `dataset-fashion-mnist` installs it.
    case fashionMNIST
    /// A folder with `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]` and the `t10k-` pair.
    case idx(folder: String)
    case csv(file: String)

    public enum Split: String, Sendable, CaseIterable {
        case train
        case test = "t10k"
    }

    /// Where `dataset-fashion-mnist` puts its files (`dpkg -L dataset-fashion-mnist`).
    public static let fashionMNISTFolder = "/usr/share/datasets/fashion-mnist"

    /// `fashion-mnist`, a folder (IDX), or a file (CSV).
    public init(parsing text: String) throws {
        if text == "fashion-mnist" {
            self = .fashionMNIST
            return
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: text, isDirectory: &isFolder) else {
            throw BPNetError.data(file: text, problem: "no such file or folder (expected fashion-mnist, an IDX folder or a CSV file)")
        }
        self = isFolder.boolValue ? .idx(folder: text) : .csv(file: text)
    }

    public var description: String {
        switch self {
        case .fashionMNIST: return "fashion-mnist"
        case .idx(let folder): return folder
        case .csv(let file): return file
        }
    }

    /// Whether the source holds `split`: named sets hold both, a CSV file only its samples
    /// (`.train`), and an IDX folder the pairs whose image file is there.
    public func has(_ split: Split) -> Bool {
        switch self {
        case .fashionMNIST: return true
        case .csv: return split == .train
        case .idx(let folder): return (try? DataSource.file(in: folder, "\(split.rawValue)-images-idx3-ubyte")) != nil
        }
    }

    /// Reads one split. `inputs`/`outputs` are the network's sizes when known; they decide how a
    /// CSV row divides into inputs and targets, and how many classes IDX labels are spread over.
    /// `targets` says that a CSV's last `targets` columns are target values (see `CSV.read`).
    /// `inputShape`, an image model's input, gives `inputs` (C·H·W values in NCHW order) and names
    /// itself when IDX images (1×H×W) hold another count.
    public func load(
        _ split: Split = .train, inputs: Int? = nil, outputs: Int? = nil, targets: Int? = nil, inputShape: Architecture.Shape? = nil
    ) throws -> Dataset {
        let inputs = inputShape?.count ?? inputs
        switch self {
        case .csv(let file):
            return try CSV.read(file, inputs: inputs, outputs: outputs, targets: targets)
        case .fashionMNIST:
            guard FileManager.default.fileExists(atPath: DataSource.fashionMNISTFolder) else {
                throw BPNetError.data(
                    file: DataSource.fashionMNISTFolder,
                    problem: "Fashion-MNIST is not installed; install it with: apt-get install dataset-fashion-mnist")
            }
            return try DataSource.idx(folder: DataSource.fashionMNISTFolder).load(split, inputs: inputs, outputs: outputs, inputShape: inputShape)
        case .idx(let folder):
            let images = try DataSource.file(in: folder, "\(split.rawValue)-images-idx3-ubyte")
            let labels = try DataSource.file(in: folder, "\(split.rawValue)-labels-idx1-ubyte")
            let imageBytes = try FileReading.read(images), labelBytes = try FileReading.read(labels)
            // The input width first: a model of the wrong width must not be told about its labels.
            let dims = try IDX.header(imageBytes, rank: 3, file: images)
            let width = dims[1].multipliedReportingOverflow(by: dims[2])
            if let inputs, !width.overflow, inputs != width.partialValue {
                if let inputShape, case .image = inputShape {
                    throw BPNetError.data(
                        file: images,
                        problem: "images are 1×\(dims[1])×\(dims[2]) = \(width.partialValue) values but the input shape "
                            + "\(inputShape) holds \(inputs)")
                }
                throw BPNetError.data(
                    file: images,
                    problem: "images have \(dims[1])×\(dims[2]) = \(width.partialValue) pixels but the input layer has \(inputs) units")
            }
            let classes = try outputs ?? max(IDX.maxLabel(labelBytes, file: labels) + 1, 2)
            var data = try IDX.decode(images: imageBytes, labels: labelBytes, classes: classes, imagesFile: images, labelsFile: labels)
            data.layout = "\(data.inputSize) pixels, labels over \(counted(classes, "class", plural: "classes")) (one-hot)"
            return data
        }
    }

    /// `name` or `name.gz` in `folder`.
    static func file(in folder: String, _ name: String) throws -> String {
        for candidate in [name, name + ".gz"] {
            let path = (folder as NSString).appendingPathComponent(candidate)
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        throw BPNetError.data(file: folder, problem: "holds neither \(name) nor \(name).gz")
    }
}
