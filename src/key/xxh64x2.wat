;; xxh64x2: XXH64 of one input under two seeds, in a single pass over the bytes.
;;
;; The 128-bit content key is xxh64(text, seedA) ‖ xxh64(text, seedB) (key/hasher.ts). Two
;; calls of xxhash-wasm's h64Raw read the text twice, copy it into the wasm memory twice and
;; return two BigInts; this reads each 8-byte word once, feeds it to both states, and writes
;; both results into memory. The results are bit-identical to XXH64 (the reference algorithm,
;; spec: https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md), so keys do not
;; change; test/property/key-reference.property.test.ts checks it against xxhash-wasm.
;;
;; Built by `npm run build` (scripts/build-wasm.mjs, wabt's wat2wasm) into a .wasm beside
;; hasher.ts/.js; never committed as a binary.
;;
;; Memory: [0, 16) the two results (little-endian u64: A then B); the input anywhere after.
(module
  (memory (export "memory") 1)

  (global $P1 i64 (i64.const 0x9E3779B185EBCA87))
  (global $P2 i64 (i64.const 0xC2B2AE3D27D4EB4F))
  (global $P3 i64 (i64.const 0x165667B19E3779F9))
  (global $P4 i64 (i64.const 0x85EBCA77C2B2AE63))
  (global $P5 i64 (i64.const 0x27D4EB2F165667C5))

  ;; round(acc, input) = rotl(acc + input * P2, 31) * P1
  (func $round (param $acc i64) (param $in i64) (result i64)
    (i64.mul
      (i64.rotl (i64.add (local.get $acc) (i64.mul (local.get $in) (global.get $P2))) (i64.const 31))
      (global.get $P1)))

  ;; mergeRound(acc, v) = (acc ^ round(0, v)) * P1 + P4
  (func $merge (param $acc i64) (param $v i64) (result i64)
    (i64.add
      (i64.mul (i64.xor (local.get $acc) (call $round (i64.const 0) (local.get $v))) (global.get $P1))
      (global.get $P4)))

  ;; The tail (len mod 32 bytes from $p) and the avalanche, for one state $h.
  (func $finish (param $h i64) (param $p i32) (param $end i32) (result i64)
    ;; 8-byte words
    (block $d8
      (loop $l8
        (br_if $d8 (i32.gt_u (i32.add (local.get $p) (i32.const 8)) (local.get $end)))
        (local.set $h
          (i64.add
            (i64.mul
              (i64.rotl
                (i64.xor (local.get $h) (call $round (i64.const 0) (i64.load (local.get $p))))
                (i64.const 27))
              (global.get $P1))
            (global.get $P4)))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (br $l8)))
    ;; a 4-byte word
    (if (i32.le_u (i32.add (local.get $p) (i32.const 4)) (local.get $end))
      (then
        (local.set $h
          (i64.add
            (i64.mul
              (i64.rotl
                (i64.xor (local.get $h) (i64.mul (i64.load32_u (local.get $p)) (global.get $P1)))
                (i64.const 23))
              (global.get $P2))
            (global.get $P3)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))))
    ;; bytes
    (block $d1
      (loop $l1
        (br_if $d1 (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $h
          (i64.mul
            (i64.rotl
              (i64.xor (local.get $h) (i64.mul (i64.load8_u (local.get $p)) (global.get $P5)))
              (i64.const 11))
            (global.get $P1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $l1)))
    ;; avalanche
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 33))) (global.get $P2)))
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 29))) (global.get $P3)))
    (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 32))))

  ;; xxh64(mem[p, p+len), seedA) → mem[0..8), xxh64(…, seedB) → mem[8..16)
  (func (export "xxh64x2") (param $p i32) (param $len i32) (param $sa i64) (param $sb i64)
    (local $end i32) (local $limit i32)
    (local $a1 i64) (local $a2 i64) (local $a3 i64) (local $a4 i64)
    (local $b1 i64) (local $b2 i64) (local $b3 i64) (local $b4 i64)
    (local $w i64) (local $ha i64) (local $hb i64)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (if (i32.ge_u (local.get $len) (i32.const 32))
      (then
        (local.set $a1 (i64.add (i64.add (local.get $sa) (global.get $P1)) (global.get $P2)))
        (local.set $a2 (i64.add (local.get $sa) (global.get $P2)))
        (local.set $a3 (local.get $sa))
        (local.set $a4 (i64.sub (local.get $sa) (global.get $P1)))
        (local.set $b1 (i64.add (i64.add (local.get $sb) (global.get $P1)) (global.get $P2)))
        (local.set $b2 (i64.add (local.get $sb) (global.get $P2)))
        (local.set $b3 (local.get $sb))
        (local.set $b4 (i64.sub (local.get $sb) (global.get $P1)))
        (local.set $limit (i32.sub (local.get $end) (i32.const 32)))
        (loop $stripe
          ;; round() written out: a wasm call per word here halves the speed (V8 does not inline it).
          (local.set $w (i64.load (local.get $p)))
          (local.set $a1
            (i64.mul
              (i64.rotl (i64.add (local.get $a1) (i64.mul (local.get $w) (global.get $P2))) (i64.const 31))
              (global.get $P1)))
          (local.set $b1
            (i64.mul
              (i64.rotl (i64.add (local.get $b1) (i64.mul (local.get $w) (global.get $P2))) (i64.const 31))
              (global.get $P1)))
          (local.set $w (i64.load offset=8 (local.get $p)))
          (local.set $a2
            (i64.mul
              (i64.rotl (i64.add (local.get $a2) (i64.mul (local.get $w) (global.get $P2))) (i64.const 31))
              (global.get $P1)))
          (local.set $b2
            (i64.mul
              (i64.rotl (i64.add (local.get $b2) (i64.mul (local.get $w) (global.get $P2))) (i64.const 31))
              (global.get $P1)))
          (local.set $w (i64.load offset=16 (local.get $p)))
          (local.set $a3
            (i64.mul
              (i64.rotl (i64.add (local.get $a3) (i64.mul (local.get $w) (global.get $P2))) (i64.const 31))
              (global.get $P1)))
          (local.set $b3
            (i64.mul
              (i64.rotl (i64.add (local.get $b3) (i64.mul (local.get $w) (global.get $P2))) (i64.const 31))
              (global.get $P1)))
          (local.set $w (i64.load offset=24 (local.get $p)))
          (local.set $a4
            (i64.mul
              (i64.rotl (i64.add (local.get $a4) (i64.mul (local.get $w) (global.get $P2))) (i64.const 31))
              (global.get $P1)))
          (local.set $b4
            (i64.mul
              (i64.rotl (i64.add (local.get $b4) (i64.mul (local.get $w) (global.get $P2))) (i64.const 31))
              (global.get $P1)))
          (local.set $p (i32.add (local.get $p) (i32.const 32)))
          (br_if $stripe (i32.le_u (local.get $p) (local.get $limit))))
        (local.set $ha
          (i64.add
            (i64.add (i64.rotl (local.get $a1) (i64.const 1)) (i64.rotl (local.get $a2) (i64.const 7)))
            (i64.add (i64.rotl (local.get $a3) (i64.const 12)) (i64.rotl (local.get $a4) (i64.const 18)))))
        (local.set $ha (call $merge (local.get $ha) (local.get $a1)))
        (local.set $ha (call $merge (local.get $ha) (local.get $a2)))
        (local.set $ha (call $merge (local.get $ha) (local.get $a3)))
        (local.set $ha (call $merge (local.get $ha) (local.get $a4)))
        (local.set $hb
          (i64.add
            (i64.add (i64.rotl (local.get $b1) (i64.const 1)) (i64.rotl (local.get $b2) (i64.const 7)))
            (i64.add (i64.rotl (local.get $b3) (i64.const 12)) (i64.rotl (local.get $b4) (i64.const 18)))))
        (local.set $hb (call $merge (local.get $hb) (local.get $b1)))
        (local.set $hb (call $merge (local.get $hb) (local.get $b2)))
        (local.set $hb (call $merge (local.get $hb) (local.get $b3)))
        (local.set $hb (call $merge (local.get $hb) (local.get $b4))))
      (else
        (local.set $ha (i64.add (local.get $sa) (global.get $P5)))
        (local.set $hb (i64.add (local.get $sb) (global.get $P5)))))
    (local.set $ha (i64.add (local.get $ha) (i64.extend_i32_u (local.get $len))))
    (local.set $hb (i64.add (local.get $hb) (i64.extend_i32_u (local.get $len))))
    (i64.store (i32.const 0) (call $finish (local.get $ha) (local.get $p) (local.get $end)))
    (i64.store (i32.const 8) (call $finish (local.get $hb) (local.get $p) (local.get $end))))
)
