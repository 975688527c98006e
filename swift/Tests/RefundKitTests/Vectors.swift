import Foundation

/// The shared test vectors in `tests/vectors/`, which every language's tests load.
enum Vectors {
    /// The `cases` of `tests/vectors/<name>.json`.
    static func cases(_ name: String) throws -> [[String: Any]] {
        return try document(name)["cases"] as! [[String: Any]]
    }

    /// The whole of `tests/vectors/<name>.json`.
    static func document(_ name: String) throws -> [String: Any] {
        let repo = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let file = repo.appendingPathComponent("tests/vectors/\(name).json")
        return try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
    }
}

extension Dictionary where Key == String, Value == Any {
    /// The string at `key`, or nil when absent or JSON null.
    func str(_ key: String) -> String? { self[key] as? String }
    /// The integer at `key`, or nil when absent or JSON null.
    func int(_ key: String) -> Int? { self[key].flatMap { $0 is NSNull ? nil : jsonInt($0) } }
    /// The boolean at `key`.
    func bool(_ key: String) -> Bool? { self[key] as? Bool }
    /// The object at `key`.
    func obj(_ key: String) -> [String: Any]? { self[key] as? [String: Any] }
    /// The object at `key`, as strings.
    func strings(_ key: String) -> [String: String]? { self[key] as? [String: String] }
}
