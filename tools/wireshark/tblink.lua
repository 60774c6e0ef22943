-- Wireshark dissector for Thunderbolt/USB4 control packets captured by
-- `tblink capture` (pcapng link type 147, LINKTYPE_USER0).
--
--   wireshark -X lua_script:tools/wireshark/tblink.lua capture.pcapng
--   tshark -r capture.pcapng -X lua_script:tools/wireshark/tblink.lua -V
--
-- Record layout (see crates/tblink/src/capture.rs):
--   byte 0   pseudo-header version (1)
--   byte 1   direction: 0 received from the cable, 1 sent
--   byte 2   lane adapter (port) number
--   byte 3   PDF (bits 3:0)
--   byte 4.. the control packet as on the cable: route string (DW0-DW1),
--            payload dwords, CRC-32C trailer; every dword big-endian.
--
-- Decoded: the control header (route, CM bit, CRC check), READ/WRITE
-- address dwords and READ data, ERROR (8-bit codes, spec 01 §6.2) and
-- hot-plug EVENT dwords, the ICM header of firmware CM packets (PDF
-- 10-12: no route string; 10 and 12 carry no checked CRC, spec 01 §5 and
-- §6.6), XDomain messages (spec 02: header, type, UUIDs, properties
-- request/response/changed, errors, link state) and ThunderboltIP
-- control messages (spec 06: LOGIN, LOGIN_RESPONSE, LOGOUT, STATUS).
-- UUIDs are shown in their canonical form: on the wire each 4-byte group
-- is reversed (spec 01 Rule 2). A pseudo-header version other than 1 is
-- flagged and its bytes left undecoded. Filter prefix: tblink.

local p = Proto("tblink", "Thunderbolt control packet (tblink capture)")

-- Bit operations: Lua 5.2's bit32, or Wireshark's bit library.
local B = bit32 or bit
local band, bxor, rshift = B.band, B.bxor, B.rshift

local function u32(x)
    return x % 4294967296
end

local PDF = {
    [1] = "READ", [2] = "WRITE", [3] = "ERROR", [4] = "NOTIFY_ACK",
    [5] = "EVENT", [6] = "XDOMAIN_REQ", [7] = "XDOMAIN_RESP", [8] = "OVERRIDE",
    [9] = "RESET", [10] = "ICM_EVENT", [11] = "ICM_CMD", [12] = "ICM_RESP",
    [13] = "PREPARE_TO_SLEEP",
}
local DIR = { [0] = "received", [1] = "sent" }
local SPACE = { [0] = "HOPS", [1] = "PORT", [2] = "SWITCH", [3] = "COUNTERS" }
-- ERROR codes, DW2 bits [7:0] (spec 01 §6.2; 32-39 on newer kernels).
local ERR = {
    [0] = "PORT_NOT_CONNECTED", [1] = "LINK_ERROR", [2] = "INVALID_CONFIG_SPACE",
    [4] = "NO_SUCH_PORT", [7] = "ACK_PLUG_EVENT", [8] = "LOOP",
    [12] = "HEC_ERROR_DETECTED", [13] = "FLOW_CONTROL_ERROR", [15] = "LOCK",
    [32] = "DP_BW", [33] = "ROP_CMPLT", [34] = "POP_CMPLT", [35] = "PCIE_WAKE",
    [36] = "DP_CON_CHANGE", [37] = "DPTX_DISCOVERY", [38] = "LINK_RECOVERY",
    [39] = "ASYM_LINK",
}
-- Firmware CM packets: no route string (spec 01 §6.6).
local ICM_PDF = { [10] = true, [11] = true, [12] = true }
-- PDFs whose CRC trailer the receiver checks or the sender appends (spec
-- 01 §5): all but the firmware CM's events and responses.
local CRC_UNCHECKED = { [10] = true, [12] = true }
local XD_TYPE = {
    [1] = "UUID_REQUEST_OLD", [2] = "UUID_RESPONSE", [3] = "PROPERTIES_REQUEST",
    [4] = "PROPERTIES_RESPONSE", [5] = "PROPERTIES_CHANGED_REQUEST",
    [6] = "PROPERTIES_CHANGED_RESPONSE", [7] = "ERROR_RESPONSE",
    [12] = "UUID_REQUEST", [15] = "LINK_STATE_STATUS_REQUEST",
    [16] = "LINK_STATE_STATUS_RESPONSE", [17] = "LINK_STATE_CHANGE_REQUEST",
    [18] = "LINK_STATE_CHANGE_RESPONSE",
}
local XD_ERR = {
    [0] = "SUCCESS", [1] = "UNKNOWN_PACKET", [2] = "UNKNOWN_DOMAIN",
    [3] = "NOT_SUPPORTED", [4] = "NOT_READY",
}
local TBIP_TYPE = { [0] = "LOGIN", [1] = "LOGIN_RESPONSE", [2] = "LOGOUT", [3] = "STATUS" }

-- Protocol UUIDs in canonical form (spec 02 §1, spec 06 §1).
local UUID_DISCOVERY = "b638d70e-42ff-40bb-97c2-90e2c0b2ff07"
local UUID_TBIP = "798f589e-3616-8a47-97c6-5664a920c8dd"

local f = p.fields
f.version = ProtoField.uint8("tblink.version", "Pseudo-header version")
f.undecoded = ProtoField.bytes("tblink.undecoded", "Undecoded bytes")
f.dir = ProtoField.uint8("tblink.dir", "Direction", base.DEC, DIR)
f.port = ProtoField.uint8("tblink.port", "Port (lane adapter)")
f.pdf = ProtoField.uint8("tblink.pdf", "PDF", base.DEC, PDF, 0x0f)
f.route = ProtoField.uint64("tblink.route", "Route", base.HEX)
f.cm = ProtoField.bool("tblink.cm", "CM bit (route bit 63)")
f.crc = ProtoField.uint32("tblink.crc", "CRC-32C", base.HEX)
f.crc_ok = ProtoField.bool("tblink.crc_ok", "CRC correct")
f.dword = ProtoField.uint32("tblink.dword", "Dword", base.HEX)
f.data = ProtoField.uint32("tblink.data", "Data dword", base.HEX)
f.crc_unchecked = ProtoField.uint32("tblink.crc_unchecked", "Last dword (no CRC checked for this PDF)", base.HEX)
-- ICM header (spec 01 §6.6)
f.icm_code = ProtoField.uint32("tblink.icm.code", "ICM code", base.HEX, nil, 0x000000ff)
f.icm_flags = ProtoField.uint32("tblink.icm.flags", "ICM flags", base.HEX, nil, 0x0000ff00)
f.icm_index = ProtoField.uint32("tblink.icm.index", "Packet index", base.DEC, nil, 0x00ff0000)
f.icm_total = ProtoField.uint32("tblink.icm.total", "Total packets", base.DEC, nil, 0xff000000)
-- READ / WRITE (spec 01 §6.1)
f.addr_offset = ProtoField.uint32("tblink.addr.offset", "Offset", base.DEC, nil, 0x00001fff)
f.addr_length = ProtoField.uint32("tblink.addr.length", "Length (dwords)", base.DEC, nil, 0x0007e000)
f.addr_port = ProtoField.uint32("tblink.addr.port", "Port", base.DEC, nil, 0x01f80000)
f.addr_space = ProtoField.uint32("tblink.addr.space", "Space", base.DEC, SPACE, 0x06000000)
f.addr_seq = ProtoField.uint32("tblink.addr.seq", "Sequence", base.DEC, nil, 0x18000000)
-- ERROR (§6.2) and EVENT (§6.3)
f.err_code = ProtoField.uint32("tblink.error.code", "Error code", base.DEC, ERR, 0x000000ff)
f.err_port = ProtoField.uint32("tblink.error.port", "Port", base.DEC, nil, 0x00003f00)
f.err_pg = ProtoField.uint32("tblink.error.pg", "PG", base.DEC, nil, 0xc0000000)
f.ev_port = ProtoField.uint32("tblink.event.port", "Adapter", base.DEC, nil, 0x0000003f)
f.ev_unplug = ProtoField.uint32("tblink.event.unplug", "Unplug", base.DEC, nil, 0x80000000)
-- XDomain common header (spec 02 §2)
f.xd_len = ProtoField.uint32("tblink.xd.length", "Length (dwords after DW2)", base.DEC, nil, 0x0000003f)
f.xd_sn = ProtoField.uint32("tblink.xd.sn", "Sequence number", base.DEC, nil, 0x18000000)
f.xd_proto = ProtoField.string("tblink.xd.protocol", "Protocol UUID")
f.xd_proto_name = ProtoField.string("tblink.xd.protocol_name", "Protocol")
-- XDomain discovery (spec 02 §3-4)
f.xd_type = ProtoField.uint32("tblink.xd.type", "Type", base.DEC, XD_TYPE)
f.xd_src_uuid = ProtoField.string("tblink.xd.src_uuid", "Source UUID")
f.xd_dst_uuid = ProtoField.string("tblink.xd.dst_uuid", "Destination UUID")
f.xd_src_route = ProtoField.uint64("tblink.xd.src_route", "Source route", base.HEX)
f.xd_offset = ProtoField.uint32("tblink.xd.offset", "Offset (dwords)", base.DEC, nil, 0x0000ffff)
f.xd_data_length = ProtoField.uint32("tblink.xd.data_length", "Block length (dwords)", base.DEC, nil, 0xffff0000)
f.xd_generation = ProtoField.uint32("tblink.xd.generation", "Generation", base.HEX)
f.xd_data = ProtoField.bytes("tblink.xd.data", "Property block data")
f.xd_data_dwords = ProtoField.uint32("tblink.xd.data_dwords", "Data dwords in this response")
f.xd_error = ProtoField.uint32("tblink.xd.error", "Error", base.DEC, XD_ERR)
f.xd_status = ProtoField.uint32("tblink.xd.status", "Status", base.HEX)
f.xd_slw = ProtoField.uint32("tblink.xd.slw", "Supported link widths", base.HEX, nil, 0x000000ff)
f.xd_tlw = ProtoField.uint32("tblink.xd.tlw", "Target link width", base.HEX, nil, 0x0000ff00)
f.xd_sls = ProtoField.uint32("tblink.xd.sls", "Supported link speeds", base.HEX, nil, 0x00ff0000)
f.xd_tls = ProtoField.uint32("tblink.xd.tls", "Target link speed", base.HEX, nil, 0xff000000)
f.xd_req_tlw = ProtoField.uint32("tblink.xd.req_tlw", "Requested target link width", base.HEX, nil, 0x000000ff)
f.xd_req_tls = ProtoField.uint32("tblink.xd.req_tls", "Target link speed", base.HEX, nil, 0x0000ff00)
-- ThunderboltIP (spec 06 §3-4)
f.ip_initiator = ProtoField.string("tblink.tbip.initiator_uuid", "Initiator UUID")
f.ip_target = ProtoField.string("tblink.tbip.target_uuid", "Target UUID")
f.ip_type = ProtoField.uint32("tblink.tbip.type", "Type", base.DEC, TBIP_TYPE)
f.ip_command_id = ProtoField.uint32("tblink.tbip.command_id", "Command ID")
f.ip_proto_version = ProtoField.uint32("tblink.tbip.proto_version", "Protocol version")
f.ip_transmit_path = ProtoField.uint32("tblink.tbip.transmit_path", "Transmit path (HopID)")
f.ip_status = ProtoField.uint32("tblink.tbip.status", "Status")
f.ip_mac = ProtoField.ether("tblink.tbip.receiver_mac", "Receiver MAC")
f.ip_mac_len = ProtoField.uint32("tblink.tbip.receiver_mac_len", "Receiver MAC length")

local ef_crc = ProtoExpert.new("tblink.crc_bad", "CRC-32C mismatch", expert.group.CHECKSUM, expert.severity.ERROR)
local ef_short = ProtoExpert.new("tblink.short", "Packet too short", expert.group.MALFORMED, expert.severity.ERROR)
local ef_len = ProtoExpert.new("tblink.xd.length_bad", "XDomain length field does not match the packet size",
    expert.group.MALFORMED, expert.severity.WARN)
local ef_version = ProtoExpert.new("tblink.version_unknown", "Unknown pseudo-header version (this dissector reads version 1)",
    expert.group.UNDECODED, expert.severity.WARN)
local ef_dir = ProtoExpert.new("tblink.dir_unknown", "Unknown direction (0 received, 1 sent)",
    expert.group.MALFORMED, expert.severity.WARN)
p.experts = { ef_crc, ef_short, ef_len, ef_version, ef_dir }

-- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78; spec 01 §5).
local CRC_T = {}
for i = 0, 255 do
    local c = i
    for _ = 1, 8 do
        if band(c, 1) ~= 0 then
            c = bxor(rshift(c, 1), 0x82F63B78)
        else
            c = rshift(c, 1)
        end
    end
    CRC_T[i] = c
end

local function crc32c(tvb, off, len)
    local c = 0xFFFFFFFF
    for i = off, off + len - 1 do
        c = bxor(rshift(c, 8), CRC_T[band(bxor(c, tvb(i, 1):uint()), 0xff)])
    end
    return u32(bxor(c, 0xFFFFFFFF))
end

-- The canonical text of a UUID whose 16 wire bytes start at `off`: each
-- 4-byte group is reversed (spec 01 Rule 2).
local function uuid_at(tvb, off)
    local b = {}
    for g = 0, 3 do
        for i = 3, 0, -1 do
            b[#b + 1] = string.format("%02x", tvb(off + 4 * g + i, 1):uint())
        end
    end
    local s = table.concat(b)
    return s:sub(1, 8) .. "-" .. s:sub(9, 12) .. "-" .. s:sub(13, 16) .. "-" .. s:sub(17, 20) .. "-" .. s:sub(21, 32)
end

local function add_uuid(tree, field, tvb, off)
    local u = uuid_at(tvb, off)
    tree:add(field, tvb(off, 16), u)
    return u
end

local function route_text(hi, lo)
    hi = band(hi, 0x7fffffff)
    if hi == 0 then
        return string.format("0x%x", lo)
    end
    return string.format("0x%x%08x", hi, lo)
end

-- ThunderboltIP control message (spec 06 §3-4); `o` = packet start.
local function dissect_tbip(tvb, o, n, tree, pinfo)
    local t = tree:add(p, tvb(o, n), "ThunderboltIP control message")
    if n < 68 then
        t:add_proto_expert_info(ef_short)
        return "ThunderboltIP (short)"
    end
    local ini = add_uuid(t, f.ip_initiator, tvb, o + 28)
    local tgt = add_uuid(t, f.ip_target, tvb, o + 44)
    local ty = tvb(o + 60, 4):uint()
    t:add(f.ip_type, tvb(o + 60, 4))
    t:add(f.ip_command_id, tvb(o + 64, 4))
    local name = TBIP_TYPE[ty] or string.format("type %d", ty)
    local info = "ThunderboltIP " .. name .. string.format(" command_id %d", tvb(o + 64, 4):uint())
    if ty == 0 and n >= 76 then
        t:add(f.ip_proto_version, tvb(o + 68, 4))
        t:add(f.ip_transmit_path, tvb(o + 72, 4))
        info = info .. string.format(" transmit_path %d", tvb(o + 72, 4):uint())
    elseif ty == 1 and n >= 84 then
        t:add(f.ip_status, tvb(o + 68, 4))
        -- Wire bytes m3 m2 m1 m0 00 00 m5 m4 (spec 06 §4.2).
        local m = ByteArray.new()
        m:set_size(6)
        m:set_index(0, tvb(o + 75, 1):uint())
        m:set_index(1, tvb(o + 74, 1):uint())
        m:set_index(2, tvb(o + 73, 1):uint())
        m:set_index(3, tvb(o + 72, 1):uint())
        m:set_index(4, tvb(o + 79, 1):uint())
        m:set_index(5, tvb(o + 78, 1):uint())
        local mt = m:tvb("Receiver MAC")
        t:add(f.ip_mac, tvb(o + 72, 8), mt(0, 6):ether())
        t:add(f.ip_mac_len, tvb(o + 80, 4))
        info = info .. string.format(" status %d", tvb(o + 68, 4):uint())
    elseif ty == 3 and n >= 72 then
        t:add(f.ip_status, tvb(o + 68, 4))
        info = info .. string.format(" status %d", tvb(o + 68, 4):uint())
    end
    t:append_text(": " .. name .. ", " .. ini .. " -> " .. tgt)
    return info
end

-- XDomain discovery message (spec 02 §3-4).
local function dissect_discovery(tvb, o, n, tree)
    local t = tree:add(p, tvb(o, n), "XDomain discovery message")
    if n < 32 then
        t:add_proto_expert_info(ef_short)
        return "XDomain (short)"
    end
    local ty = tvb(o + 28, 4):uint()
    t:add(f.xd_type, tvb(o + 28, 4))
    local name = XD_TYPE[ty] or string.format("type %d", ty)
    local info = "XDomain " .. name
    t:append_text(": " .. name)
    if ty == 2 and n >= 56 then
        local u = add_uuid(t, f.xd_src_uuid, tvb, o + 32)
        local hi, lo = tvb(o + 48, 4):uint(), tvb(o + 52, 4):uint()
        t:add(f.xd_src_route, tvb(o + 48, 8), UInt64.new(lo, band(hi, 0x7fffffff)))
        info = info .. " uuid " .. u .. " route " .. route_text(hi, lo)
    elseif ty == 3 and n >= 68 then
        add_uuid(t, f.xd_src_uuid, tvb, o + 32)
        add_uuid(t, f.xd_dst_uuid, tvb, o + 48)
        t:add(f.xd_offset, tvb(o + 64, 4))
        info = info .. string.format(" offset %d", band(tvb(o + 64, 4):uint(), 0xffff))
    elseif ty == 4 and n >= 72 then
        add_uuid(t, f.xd_src_uuid, tvb, o + 32)
        add_uuid(t, f.xd_dst_uuid, tvb, o + 48)
        t:add(f.xd_offset, tvb(o + 64, 4))
        t:add(f.xd_data_length, tvb(o + 64, 4))
        t:add(f.xd_generation, tvb(o + 68, 4))
        local dn = math.floor((n - 72) / 4)
        t:add(f.xd_data_dwords, tvb(o + 64, 4), dn)
        if dn > 0 then
            t:add(f.xd_data, tvb(o + 72, dn * 4))
        end
        local v = tvb(o + 64, 4):uint()
        info = info .. string.format(" offset %d/%d, %d dwords, generation 0x%08x",
            band(v, 0xffff), rshift(v, 16), dn, tvb(o + 68, 4):uint())
    elseif ty == 5 and n >= 48 then
        local u = add_uuid(t, f.xd_src_uuid, tvb, o + 32)
        info = info .. " uuid " .. u
    elseif ty == 7 and n >= 36 then
        local c = tvb(o + 32, 4):uint()
        t:add(f.xd_error, tvb(o + 32, 4))
        info = info .. " " .. (XD_ERR[c] or string.format("code %d", c))
    elseif ty == 16 and n >= 40 then
        t:add(f.xd_status, tvb(o + 32, 4))
        t:add(f.xd_slw, tvb(o + 36, 4))
        t:add(f.xd_tlw, tvb(o + 36, 4))
        t:add(f.xd_sls, tvb(o + 36, 4))
        t:add(f.xd_tls, tvb(o + 36, 4))
        local w = tvb(o + 36, 4):uint()
        info = info .. string.format(" status %d slw 0x%x tlw 0x%x sls 0x%x tls 0x%x",
            tvb(o + 32, 4):uint(), band(w, 0xff), band(rshift(w, 8), 0xff),
            band(rshift(w, 16), 0xff), band(rshift(w, 24), 0xff))
    elseif ty == 17 and n >= 36 then
        t:add(f.xd_req_tlw, tvb(o + 32, 4))
        t:add(f.xd_req_tls, tvb(o + 32, 4))
        local w = tvb(o + 32, 4):uint()
        info = info .. string.format(" tlw 0x%x tls 0x%x", band(w, 0xff), band(rshift(w, 8), 0xff))
    elseif ty == 18 and n >= 36 then
        t:add(f.xd_status, tvb(o + 32, 4))
        info = info .. string.format(" status %d", tvb(o + 32, 4):uint())
    end
    return info
end

-- Firmware CM packet (PDF 10-12, spec 01 §6.6): ICM header, no route.
local function dissect_icm(tvb, o, n, pdf, root)
    if n < 4 then
        root:add_proto_expert_info(ef_short)
        return " (short)"
    end
    local v = tvb(o, 4):uint()
    local h = root:add(f.dword, tvb(o, 4))
    h:set_text(string.format("ICM header: 0x%08x", v))
    h:add(f.icm_code, tvb(o, 4))
    h:add(f.icm_flags, tvb(o, 4))
    h:add(f.icm_index, tvb(o, 4))
    h:add(f.icm_total, tvb(o, 4))
    return string.format(" code 0x%02x flags 0x%02x packet %d/%d", band(v, 0xff),
        band(rshift(v, 8), 0xff), band(rshift(v, 16), 0xff), rshift(v, 24))
end

function p.dissector(tvb, pinfo, tree)
    local len = tvb:len()
    if len < 4 then
        return 0
    end
    pinfo.cols.protocol = "TBLINK"
    local root = tree:add(p, tvb(), "Thunderbolt control packet")
    local ph = root:add(p, tvb(0, 4), "tblink pseudo-header")
    local version = tvb(0, 1):uint()
    local vi = ph:add(f.version, tvb(0, 1))
    if version ~= 1 then
        vi:add_proto_expert_info(ef_version)
        if len > 1 then
            root:add(f.undecoded, tvb(1, len - 1))
        end
        pinfo.cols.info = string.format("tblink pseudo-header version %d (unknown)", version)
        return len
    end
    local di = ph:add(f.dir, tvb(1, 1))
    ph:add(f.port, tvb(2, 1))
    ph:add(f.pdf, tvb(3, 1))
    local dir = tvb(1, 1):uint()
    local port = tvb(2, 1):uint()
    local pdf = band(tvb(3, 1):uint(), 0x0f)
    local pname = PDF[pdf] or string.format("PDF %d", pdf)
    local o = 4
    local n = len - 4 -- packet bytes, CRC included
    local arrow = (dir == 1 and "->") or (dir == 0 and "<-") or "?"
    if DIR[dir] == nil then
        di:add_proto_expert_info(ef_dir)
    end
    local info = string.format("port %d %s %s", port, arrow, pname)
    root:append_text(string.format(", port %d, %s, %s", port,
        DIR[dir] or string.format("unknown direction %d", dir), pname))
    if ICM_PDF[pdf] then
        local body = n
        if not CRC_UNCHECKED[pdf] and n >= 8 and n % 4 == 0 then
            body = n - 4
        end
        info = info .. dissect_icm(tvb, o, body, pdf, root)
        if body < n then
            local want = tvb(o + body, 4):uint()
            local got = crc32c(tvb, o, body)
            local ci = root:add(f.crc, tvb(o + body, 4))
            root:add(f.crc_ok, tvb(o + body, 4), got == want)
            if got == want then
                ci:append_text(" [correct]")
            else
                ci:append_text(string.format(" [incorrect, should be 0x%08x]", got))
                ci:add_proto_expert_info(ef_crc)
                info = info .. " [bad CRC]"
            end
        elseif n >= 8 then
            root:add(f.crc_unchecked, tvb(o + n - 4, 4))
        end
        pinfo.cols.info = info
        return len
    end
    if n < 8 then
        root:add_proto_expert_info(ef_short)
        pinfo.cols.info = info .. " (short)"
        return len
    end
    local hi, lo = tvb(o, 4):uint(), tvb(o + 4, 4):uint()
    root:add(f.route, tvb(o, 8), UInt64.new(lo, band(hi, 0x7fffffff)))
    local cm = band(hi, 0x80000000) ~= 0
    root:add(f.cm, tvb(o, 4), cm)
    info = info .. " route " .. route_text(hi, lo)
    if cm then
        info = info .. " CM"
    end
    local body = n - 4 -- without the CRC trailer
    -- CRC trailer (spec 01 §5): over every byte before it, big-endian.
    if n >= 12 and n % 4 == 0 then
        local want = tvb(o + body, 4):uint()
        local got = crc32c(tvb, o, body)
        local ci = root:add(f.crc, tvb(o + body, 4))
        local ok = (got == want)
        root:add(f.crc_ok, tvb(o + body, 4), ok)
        if ok then
            ci:append_text(" [correct]")
        else
            ci:append_text(string.format(" [incorrect, should be 0x%08x]", got))
            ci:add_proto_expert_info(ef_crc)
            info = info .. " [bad CRC]"
        end
    end
    if (pdf == 1 or pdf == 2) and body >= 12 then
        local a = root:add(f.dword, tvb(o + 8, 4))
        a:set_text(string.format("Address: 0x%08x", tvb(o + 8, 4):uint()))
        a:add(f.addr_offset, tvb(o + 8, 4))
        a:add(f.addr_length, tvb(o + 8, 4))
        a:add(f.addr_port, tvb(o + 8, 4))
        a:add(f.addr_space, tvb(o + 8, 4))
        a:add(f.addr_seq, tvb(o + 8, 4))
        local v = tvb(o + 8, 4):uint()
        info = info .. string.format(" %s offset %d length %d",
            SPACE[band(rshift(v, 25), 3)], band(v, 0x1fff), band(rshift(v, 13), 0x3f))
        -- A READ response or WRITE request carries data dwords.
        local nd = math.floor((body - 12) / 4)
        for i = 0, nd - 1 do
            root:add(f.data, tvb(o + 12 + 4 * i, 4))
        end
        if nd > 0 then
            info = info .. string.format(" port %d data 0x%08x", band(rshift(v, 19), 0x3f),
                tvb(o + 12, 4):uint())
            if nd > 1 then
                info = info .. string.format(" (+%d dwords)", nd - 1)
            end
        end
    elseif pdf == 3 and body >= 12 then
        local v = tvb(o + 8, 4):uint()
        root:add(f.err_code, tvb(o + 8, 4))
        root:add(f.err_port, tvb(o + 8, 4))
        root:add(f.err_pg, tvb(o + 8, 4))
        local code = band(v, 0xff)
        info = info .. " " .. (ERR[code] or string.format("code %d", code))
            .. string.format(" port %d", band(rshift(v, 8), 0x3f))
    elseif pdf == 5 and body >= 12 then
        local v = tvb(o + 8, 4):uint()
        root:add(f.ev_port, tvb(o + 8, 4))
        root:add(f.ev_unplug, tvb(o + 8, 4))
        info = info .. string.format(" adapter %d %s", band(v, 0x3f),
            (band(v, 0x80000000) ~= 0) and "unplugged" or "plugged")
    elseif (pdf == 6 or pdf == 7) and body >= 12 then
        local v = tvb(o + 8, 4):uint()
        local x = root:add(f.dword, tvb(o + 8, 4))
        x:set_text(string.format("Length/SN: 0x%08x", v))
        x:add(f.xd_len, tvb(o + 8, 4))
        x:add(f.xd_sn, tvb(o + 8, 4))
        local lf = band(v, 0x3f)
        if lf ~= body / 4 - 3 then
            x:add_proto_expert_info(ef_len)
        end
        info = info .. string.format(" sn %d", band(rshift(v, 27), 3))
        if body >= 28 then
            local u = add_uuid(root, f.xd_proto, tvb, o + 12)
            local what
            if u == UUID_DISCOVERY then
                root:add(f.xd_proto_name, tvb(o + 12, 16), "XDomain discovery")
                what = dissect_discovery(tvb, o, body, root)
            elseif u == UUID_TBIP then
                root:add(f.xd_proto_name, tvb(o + 12, 16), "ThunderboltIP")
                what = dissect_tbip(tvb, o, body, root, pinfo)
            else
                what = "protocol " .. u
            end
            info = info .. ": " .. what
        end
    end
    pinfo.cols.info = info
    return len
end

local encaps = wtap_encaps or wtap
local user0 = (encaps and encaps.USER0) or 45
DissectorTable.get("wtap_encap"):add(user0, p)
