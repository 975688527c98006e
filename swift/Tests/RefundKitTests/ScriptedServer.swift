import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback HTTP/1.1 server answering every request with one scripted
/// response: how the `errors.json` vectors reach the real client.
/// One connection at a time, `Connection: close` on every answer.
final class ScriptedServer {
    private let lock = NSLock()
    private var status = 500
    private var headers: [String: String] = [:]
    private var body = ""
    private var keys: [String?] = []
    private let socketFD: Int32
    let port: UInt16

    init() {
        signal(SIGPIPE, SIG_IGN)
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        precondition(fd >= 0, "socket() failed")
        var address = sockaddr_in()
        #if canImport(Darwin)
        address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        precondition(bound == 0, "bind() failed")
        precondition(listen(fd, 16) == 0, "listen() failed")
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        precondition(named == 0, "getsockname() failed")
        socketFD = fd
        port = UInt16(bigEndian: address.sin_port)
        Thread { self.acceptLoop() }.start()
    }

    var baseUrl: String { "http://127.0.0.1:\(port)" }

    /// Idempotency keys of the requests received, in order.
    var receivedKeys: [String?] { lock.lock(); defer { lock.unlock() }; return keys }

    /// Answers every following request with `status`, `headers` and `body`.
    func script(status: Int, headers: [String: String], body: String) {
        lock.lock(); defer { lock.unlock() }
        self.status = status
        self.headers = headers
        self.body = body
    }

    func stop() {
        shutdown(socketFD, Int32(SHUT_RDWR))
        close(socketFD)
    }

    private func acceptLoop() {
        while true {
            let client = accept(socketFD, nil, nil)
            if client < 0 { return }
            answer(client)
            close(client)
        }
    }

    private func answer(_ client: Int32) {
        var received = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        var headEnd: Int?
        var contentLength = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            received.append(contentsOf: chunk[0..<n])
            if headEnd == nil, let end = Self.find([13, 10, 13, 10], in: received) {
                headEnd = end + 4
                let head = String(decoding: received[0..<end], as: UTF8.self)
                contentLength = Int(Self.header("content-length", in: head) ?? "0") ?? 0
                lock.lock()
                keys.append(Self.header("idempotency-key", in: head))
                lock.unlock()
            }
            if let start = headEnd, received.count - start >= contentLength { break }
        }
        lock.lock()
        let (status, headers, body) = (self.status, self.headers, self.body)
        lock.unlock()
        var response = "HTTP/1.1 \(status) Scripted\r\n"
        for (name, value) in headers { response += "\(name): \(value)\r\n" }
        response += "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        let bytes = Array(response.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            sent += n
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where Array(haystack[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }

    private static func header(_ name: String, in head: String) -> String? {
        for line in head.split(separator: "\r\n").dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).lowercased() == name {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}
