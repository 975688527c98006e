import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RefundKit

/// The real emulator (`refundkit emulator --port 0`), started once per test
/// process. It accepts only `liveKey` and `testKey`, so any other
/// well-formed key gets a real 403.
///
/// The CLI comes from `REFUNDKIT_CLI`, else `../target/release/refundkit`
/// relative to this package.
enum CliEmulator {
    static let liveKey = "sk_live_swiftTests01234567890WXYZ"
    static let testKey = "sk_test_swiftTests01234567890WXYZ"

    static let baseUrl: String = start()

    private static func start() -> String {
        let repo = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let cli = ProcessInfo.processInfo.environment["REFUNDKIT_CLI"]
            ?? repo.appendingPathComponent("target/release/refundkit").path
        precondition(FileManager.default.isExecutableFile(atPath: cli),
                     "no CLI binary at \(cli): build it with `cargo build --release -p refundkit-cli`")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cli)
        process.arguments = ["emulator", "--port", "0", "--secret-key", liveKey, "--secret-key", testKey]
        let stdout = Pipe()
        process.standardOutput = stdout
        do { try process.run() } catch { preconditionFailure("cannot start the emulator: \(error)") }
        atexit { CliEmulator.stop() }
        running = process

        var buffer = Data()
        while !buffer.contains(UInt8(ascii: "\n")) {
            let chunk = stdout.fileHandleForReading.availableData
            precondition(!chunk.isEmpty, "the emulator exited before announcing its address")
            buffer.append(chunk)
        }
        // Keep draining so the emulator never blocks on a full pipe.
        stdout.fileHandleForReading.readabilityHandler = { _ = $0.availableData }
        let line = String(decoding: buffer, as: UTF8.self).split(separator: "\n")[0]
        let prefix = "listening on "
        precondition(line.hasPrefix(prefix), "unexpected first line from the emulator: \(line)")
        return String(line.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
    }

    private static var running: Process?

    private static func stop() {
        running?.terminate()
        running?.waitUntilExit()
    }

    /// A client of the emulator; no retries by default, so failures show at once.
    static func client(maxRetries: UInt32 = 0, key: String = liveKey) throws -> RefundClient {
        try RefundClient(config: ClientConfig(
            secretKey: key, baseUrl: baseUrl, maxRetries: maxRetries,
            timeoutMs: 10_000, totalTimeoutMs: 30_000
        ))
    }

    /// Creates an unpaid checkout of `amount` cents; returns its id.
    static func createCheckout(amount: Int = 10_000, key: String = liveKey) async throws -> String {
        let created = try await send("POST", "/api/checkouts", body: #"{"amount":\#(amount),"currency":"ZAR"}"#, key: key)
        return created["id"] as! String
    }

    /// Completes checkout `id`, as a customer paying would.
    static func pay(_ id: String) async throws {
        _ = try await send("POST", "/_emulator/checkouts/\(id)/pay", body: "{}")
    }

    /// A paid checkout of `amount` cents.
    static func paidCheckout(amount: Int = 10_000, key: String = liveKey) async throws -> String {
        let id = try await createCheckout(amount: amount, key: key)
        try await pay(id)
        return id
    }

    /// The refunds actually made for `checkoutId` (the emulator's ledger).
    static func ledger(_ checkoutId: String) async throws -> [[String: Any]] {
        try await send("GET", "/_emulator/refunds?checkoutId=\(checkoutId)")["refunds"] as! [[String: Any]]
    }

    /// Replaces the refund endpoint's faults; `{}` clears them.
    static func faults(_ json: String) async throws {
        _ = try await send("PUT", "/_emulator/faults", body: json)
    }

    /// How many refund requests reached the emulator so far.
    static func refundRequests() async throws -> Int {
        jsonInt(try await send("GET", "/_emulator/stats")["refundRequests"])
    }

    private static func send(_ method: String, _ path: String, body: String? = nil, key: String? = nil) async throws -> [String: Any] {
        var request = URLRequest(url: URL(string: baseUrl + path)!)
        request.httpMethod = method
        request.timeoutInterval = 10
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
        request.httpBody = body.map { Data($0.utf8) }
        let (data, status): (Data, Int) = try await withCheckedThrowingContinuation { done in
            URLSession.shared.dataTask(with: request) { data, response, error in
                if let error { return done.resume(throwing: error) }
                done.resume(returning: (data ?? Data(), (response as? HTTPURLResponse)?.statusCode ?? 0))
            }.resume()
        }
        precondition((200..<300).contains(status), "\(method) \(path): HTTP \(status) \(String(decoding: data, as: UTF8.self))")
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}

/// A JSON number as an `Int` (JSONSerialization gives `NSNumber` on Apple
/// platforms and may give `Int` on Linux).
func jsonInt(_ value: Any?) -> Int {
    if let int = value as? Int { return int }
    if let number = value as? NSNumber { return number.intValue }
    preconditionFailure("not a JSON integer: \(String(describing: value))")
}
