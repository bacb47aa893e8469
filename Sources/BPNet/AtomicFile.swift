import Foundation

// BPNet builds for Linux (OpenCL ICDs, OpenBLAS and Debian packages): Glibc only.
import Glibc

/// Writes that never leave a half-written file where a good one was: the bytes go to a
/// temporary file in the same folder, are flushed to disk, renamed over the target, and the
/// folder is flushed so that the rename itself survives a power cut. A process killed mid-write
/// leaves only its temporary file, which the next write to the same path removes.
enum AtomicFile {
    static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let temporaryPrefix = ".\(url.lastPathComponent).tmp-"
        removeStaleTemporaries(in: folder, prefix: temporaryPrefix)
        var template = Array("\(folder)/\(temporaryPrefix)XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw BPNetError.model(file: path, problem: "cannot create a file in \(folder) (\(String(cString: strerror(errno))))")
        }
        // mkstemp makes the file private; give it the mode the target has, or the usual one.
        var existing = stat()
        let mode: mode_t
        if stat(path, &existing) == 0 {
            mode = existing.st_mode & 0o7777
        } else {
            let mask = umask(0)
            umask(mask)
            mode = 0o666 & ~mask
        }
        fchmod(fd, mode)
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var ok = data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written <= 0 { return false }
                offset += written
            }
            return true
        }
        // The first failure's errno: the write's, the flush's or the close's.
        var failure = ok ? 0 : (errno == 0 ? EIO : errno)
        if failure == 0, fsync(fd) != 0 { failure = errno }
        if close(fd) != 0, failure == 0 { failure = errno }
        ok = failure == 0
        guard ok, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(ok ? errno : failure))
            unlink(temporary)
            throw BPNetError.model(file: path, problem: "cannot be written (\(reason))")
        }
        // Without this the new name may not be on disk yet after a crash, even though the data is.
        let folderDescriptor = open(folder, O_RDONLY | O_DIRECTORY)
        if folderDescriptor >= 0 {
            fsync(folderDescriptor)
            close(folderDescriptor)
        }
    }

    /// Removes what killed writes to the same target left behind: `.{name}.tmp-XXXXXX`, the
    /// mkstemp pattern with exactly six characters after the prefix.
    static func removeStaleTemporaries(in folder: String, prefix: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names where name.hasPrefix(prefix) && name.count == prefix.count + 6 {
            unlink("\(folder)/\(name)")
        }
    }
}

/// Paths that a run will write when it ends (a model, later checkpoints and reports), checked
/// before any work so that a long run never ends in a save that cannot happen.
public enum OutputPath {
    /// Writes `data` atomically: the file at `path` is replaced only once the new one is on disk.
    public static func write(_ data: Data, to path: String) throws {
        try AtomicFile.write(data, to: path)
    }

    /// Throws, naming `option`, unless `path` names a file (new or existing) in an existing folder
    /// where a file can be created: the check creates and removes a temporary file there.
    /// `example` is the kind of file name the messages suggest, such as `net.safetensors`.
    public static func checkWritable(_ path: String, option: String, example: String = "net.safetensors") throws {
        func fail(_ problem: String) -> BPNetError { .invalidArgument("\(option) \(problem)") }
        guard !path.isEmpty else { throw fail("is empty; give a file path such as runs/\(example)") }
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
        if path.hasSuffix("/") || (exists && isFolder.boolValue) {
            throw fail("'\(path)' is a folder; give a file path in it, such as \((path as NSString).appendingPathComponent(example))")
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) else {
            throw fail("'\(path)': the folder \(folder) does not exist")
        }
        guard isFolder.boolValue else { throw fail("'\(path)': \(folder) is not a folder") }
        var template = Array("\(folder)/.bpnet-write-check-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw fail("'\(path)': cannot create a file in \(folder) (\(String(cString: strerror(errno))))")
        }
        close(fd)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        if exists, access(path, W_OK) != 0 {
            throw fail("'\(path)' exists and cannot be replaced (\(String(cString: strerror(errno))))")
        }
    }

    /// Throws, naming `option`, unless `path` is a folder where files can be written, or names a
    /// new folder in an existing one (it is created when the run writes there).
    public static func checkFolder(_ path: String, option: String) throws {
        func fail(_ problem: String) -> BPNetError { .invalidArgument("\(option) \(problem)") }
        guard !path.isEmpty else { throw fail("is empty; give a folder such as runs/first") }
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
            guard isFolder.boolValue else { throw fail("'\(path)' is a file, not a folder") }
            guard access(path, W_OK) == 0 else { throw fail("'\(path)': cannot write in it (\(String(cString: strerror(errno))))") }
            return
        }
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isFolder) else {
            throw fail("'\(path)': the folder \(parent) does not exist")
        }
        guard isFolder.boolValue else { throw fail("'\(path)': \(parent) is not a folder") }
        guard access(parent, W_OK) == 0 else { throw fail("'\(path)': cannot create it in \(parent) (\(String(cString: strerror(errno))))") }
    }
}
