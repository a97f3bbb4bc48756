//! A reader for PyTorch's legacy (pre-1.6, non-zip) `torch.save` format, limited to what a
//! dictionary of plain CPU tensors needs: the format of the VGG19 weights file
//! ([`crate::vgg19`]). Anything else (another pickled object, an unknown opcode, a storage type
//! or a global this reader does not know) is an error naming it, never a guess.
//!
//! The file is five records back to back:
//!
//! 1. a pickle of the magic number `0x1950a86a20f9469cfc6c`;
//! 2. a pickle of the protocol version, 1001;
//! 3. a pickle of `sys_info` (byte order, type sizes), which must say little-endian;
//! 4. the pickled object: here a dict from names to tensors, each tensor pickled as
//!    `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`
//!    where `storage` is a persistent id `('storage', torch.XStorage, key, location, numel,
//!    view_metadata)`;
//! 5. a pickle of the list of storage keys in the order their data follows, then for each
//!    storage its element count as a little-endian u64 and its raw little-endian bytes.
//!
//! Only the pickle opcodes protocol 2 uses for such a dict are implemented.

use std::collections::HashMap;

/// The magic number `torch.save` writes first.
const MAGIC: i128 = 0x1950a86a20f9469cfc6c;
/// The only legacy protocol version.
const PROTOCOL_VERSION: i128 = 1001;

/// Element types of the storages this reader accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// `torch.ByteStorage`: unsigned 8-bit integers.
    U8,
    /// `torch.FloatStorage`: 32-bit floats.
    F32,
}

impl Dtype {
    fn from_storage(name: &str) -> Option<Dtype> {
        match name {
            "ByteStorage" => Some(Dtype::U8),
            "FloatStorage" => Some(Dtype::F32),
            _ => None,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::F32 => 4,
        }
    }
}

/// A decoded tensor: contiguous little-endian bytes of `shape` in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct RawTensor {
    /// Element type.
    pub dtype: Dtype,
    /// Shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// `shape.iter().product() * dtype.size()` bytes.
    pub data: Vec<u8>,
}

impl RawTensor {
    /// The elements as f32 (bytes converted for `U8`).
    pub fn to_f32(&self) -> Vec<f32> {
        match self.dtype {
            Dtype::U8 => self.data.iter().map(|&b| f32::from(b)).collect(),
            Dtype::F32 => self
                .data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        }
    }
}

/// Why a file could not be read.
pub type Error = String;

/// Reads a legacy `torch.save` file holding a dict of tensors, in the dict's order.
pub fn read_tensor_dict(bytes: &[u8]) -> Result<Vec<(String, RawTensor)>, Error> {
    let mut pos = 0;
    let magic = Unpickler::run(bytes, &mut pos)?;
    if !matches!(magic, Value::Int(m) if m == MAGIC) {
        return Err("not a legacy torch.save file (no magic number)".into());
    }
    match Unpickler::run(bytes, &mut pos)? {
        Value::Int(PROTOCOL_VERSION) => {}
        other => return Err(format!("unsupported torch.save protocol version {other:?}")),
    }
    let sys_info = Unpickler::run(bytes, &mut pos)?;
    if sys_info.get("little_endian") != Some(&Value::Bool(true)) {
        return Err("the file was not written little-endian".into());
    }
    let object = Unpickler::run(bytes, &mut pos)?;
    let Value::Dict(items) = object else {
        return Err(format!("the saved object is not a dict of tensors but {}", object.kind()));
    };
    let keys = match Unpickler::run(bytes, &mut pos)? {
        Value::List(keys) => keys,
        other => return Err(format!("expected the list of storage keys, found {}", other.kind())),
    };

    // The storages' data follows in the order of `keys`.
    let mut storages: HashMap<String, &[u8]> = HashMap::new();
    let mut sizes: HashMap<String, Dtype> = HashMap::new();
    for (_, value) in &items {
        if let Value::Tensor(t) = value {
            sizes.insert(t.storage.key.clone(), t.storage.dtype);
        }
    }
    for key in keys {
        let Value::Str(key) = key else {
            return Err("a storage key is not a string".into());
        };
        let dtype =
            *sizes.get(&key).ok_or_else(|| format!("storage {key} is used by no tensor"))?;
        let count = read_u64(bytes, &mut pos)? as usize;
        let len = count.checked_mul(dtype.size()).ok_or("storage size overflows")?;
        let data = take(bytes, &mut pos, len)?;
        storages.insert(key, data);
    }
    if pos != bytes.len() {
        return Err(format!("{} unexpected bytes after the last storage", bytes.len() - pos));
    }

    items
        .into_iter()
        .map(|(name, value)| {
            let Value::Str(name) = name else {
                return Err(format!("a dict key is {}, not a string", name.kind()));
            };
            let Value::Tensor(t) = value else {
                return Err(format!("{name} is {}, not a tensor", value.kind()));
            };
            let storage = storages.get(&t.storage.key).ok_or_else(|| {
                format!("{name}: the data of storage {} is missing", t.storage.key)
            })?;
            let tensor = t.materialize(storage).map_err(|e| format!("{name}: {e}"))?;
            Ok((name, tensor))
        })
        .collect()
}

/// A storage reference: `('storage', torch.XStorage, key, location, numel, view_metadata)`.
#[derive(Clone, Debug, PartialEq)]
struct StorageRef {
    dtype: Dtype,
    key: String,
    numel: usize,
}

/// A tensor view of a storage, as `_rebuild_tensor_v2` describes it.
#[derive(Clone, Debug, PartialEq)]
struct TensorRef {
    storage: StorageRef,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

impl TensorRef {
    /// Copies the view out of the storage's bytes into a contiguous tensor.
    fn materialize(&self, storage: &[u8]) -> Result<RawTensor, Error> {
        let size = self.storage.dtype.size();
        if storage.len() != self.storage.numel * size {
            return Err(format!(
                "storage holds {} bytes, its header says {} elements",
                storage.len(),
                self.storage.numel
            ));
        }
        let numel: usize = self.shape.iter().product();
        // The largest element index the view touches must lie inside the storage.
        let last = self.offset
            + self
                .shape
                .iter()
                .zip(&self.stride)
                .map(|(&n, &s)| n.saturating_sub(1) * s)
                .sum::<usize>();
        if numel > 0 && last >= self.storage.numel {
            return Err(format!("view {:?} reaches past its storage", self.shape));
        }
        let mut data = Vec::with_capacity(numel * size);
        let mut index = vec![0usize; self.shape.len()];
        for _ in 0..numel {
            let at =
                self.offset + index.iter().zip(&self.stride).map(|(i, s)| i * s).sum::<usize>();
            data.extend_from_slice(&storage[at * size..(at + 1) * size]);
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < self.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Ok(RawTensor { dtype: self.storage.dtype, shape: self.shape.clone(), data })
    }
}

/// The values a pickle of a tensor dict builds.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i128),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    Storage(StorageRef),
    Tensor(TensorRef),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Str(_) => "a string",
            Value::Tuple(_) => "a tuple",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dict",
            Value::Global(..) => "a global",
            Value::Storage(_) => "a storage",
            Value::Tensor(_) => "a tensor",
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => {
                items.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == key)).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    fn usize(&self) -> Result<usize, Error> {
        match self {
            Value::Int(i) => usize::try_from(*i).map_err(|_| format!("{i} is not a size")),
            other => Err(format!("expected an int, found {}", other.kind())),
        }
    }

    fn usizes(&self) -> Result<Vec<usize>, Error> {
        match self {
            Value::Tuple(items) => items.iter().map(Value::usize).collect(),
            other => Err(format!("expected a tuple of ints, found {}", other.kind())),
        }
    }
}

/// One item on the pickle machine's stack: a value or a MARK.
#[derive(Debug)]
enum Item {
    Mark,
    Value(Value),
}

/// The pickle virtual machine for one record.
#[derive(Default)]
struct Unpickler {
    stack: Vec<Item>,
    memo: HashMap<u32, Value>,
}

impl Unpickler {
    /// Runs the pickle starting at `*pos` up to its STOP; leaves `*pos` after it.
    fn run(bytes: &[u8], pos: &mut usize) -> Result<Value, Error> {
        let mut vm = Unpickler::default();
        loop {
            let at = *pos;
            let op = take(bytes, pos, 1)?[0];
            match op {
                0x80 => {
                    // PROTO
                    let proto = take(bytes, pos, 1)?[0];
                    if proto > 2 {
                        return Err(format!("pickle protocol {proto} (only 2 is read)"));
                    }
                }
                b'.' => return vm.pop(), // STOP
                b'(' => vm.stack.push(Item::Mark),
                b'N' => vm.push(Value::None),
                0x88 => vm.push(Value::Bool(true)),
                0x89 => vm.push(Value::Bool(false)),
                b'K' => {
                    let v = take(bytes, pos, 1)?[0];
                    vm.push(Value::Int(v.into()))
                }
                b'M' => {
                    let v = take(bytes, pos, 2)?;
                    vm.push(Value::Int(u16::from_le_bytes([v[0], v[1]]).into()))
                }
                b'J' => {
                    let v = take(bytes, pos, 4)?;
                    vm.push(Value::Int(i32::from_le_bytes([v[0], v[1], v[2], v[3]]).into()))
                }
                0x8a => {
                    // LONG1: n bytes of little-endian two's complement.
                    let n = take(bytes, pos, 1)?[0] as usize;
                    if n > 16 {
                        return Err(format!("a {n}-byte integer at byte {at}"));
                    }
                    let digits = take(bytes, pos, n)?;
                    let mut buf = if digits.last().is_some_and(|b| b & 0x80 != 0) {
                        [0xffu8; 16]
                    } else {
                        [0u8; 16]
                    };
                    buf[..n].copy_from_slice(digits);
                    vm.push(Value::Int(i128::from_le_bytes(buf)))
                }
                b'X' => {
                    let n = read_u32(bytes, pos)? as usize;
                    let s = std::str::from_utf8(take(bytes, pos, n)?)
                        .map_err(|_| format!("a string at byte {at} is not UTF-8"))?;
                    vm.push(Value::Str(s.to_string()))
                }
                b'c' => {
                    // GLOBAL: "module\nname\n"
                    let module = read_line(bytes, pos)?;
                    let name = read_line(bytes, pos)?;
                    vm.push(Value::Global(module, name))
                }
                b'q' => {
                    let i = take(bytes, pos, 1)?[0];
                    vm.memoize(i.into())?
                }
                b'r' => {
                    let i = read_u32(bytes, pos)?;
                    vm.memoize(i)?
                }
                b'h' => {
                    let i = take(bytes, pos, 1)?[0];
                    vm.recall(i.into())?
                }
                b'j' => {
                    let i = read_u32(bytes, pos)?;
                    vm.recall(i)?
                }
                b'}' => vm.push(Value::Dict(Vec::new())),
                b']' => vm.push(Value::List(Vec::new())),
                b')' => vm.push(Value::Tuple(Vec::new())),
                b't' => {
                    let items = vm.pop_to_mark()?;
                    vm.push(Value::Tuple(items))
                }
                0x85..=0x87 => {
                    // TUPLE1, TUPLE2, TUPLE3
                    let n = (op - 0x84) as usize;
                    let mut items = (0..n).map(|_| vm.pop()).collect::<Result<Vec<_>, _>>()?;
                    items.reverse();
                    vm.push(Value::Tuple(items))
                }
                b'u' => {
                    let items = vm.pop_to_mark()?;
                    if items.len() % 2 != 0 {
                        return Err(format!("SETITEMS with an odd item count at byte {at}"));
                    }
                    let Some(Item::Value(Value::Dict(dict))) = vm.stack.last_mut() else {
                        return Err(format!("SETITEMS on something not a dict at byte {at}"));
                    };
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        dict.push((k, v));
                    }
                }
                b'e' => {
                    let items = vm.pop_to_mark()?;
                    let Some(Item::Value(Value::List(list))) = vm.stack.last_mut() else {
                        return Err(format!("APPENDS on something not a list at byte {at}"));
                    };
                    list.extend(items);
                }
                b'Q' => {
                    // BINPERSID: the persistent id of a storage.
                    let pid = vm.pop()?;
                    vm.push(Value::Storage(storage_ref(pid)?))
                }
                b'R' => {
                    let args = vm.pop()?;
                    let callable = vm.pop()?;
                    vm.push(reduce(callable, args)?)
                }
                _ => return Err(format!("unsupported pickle opcode 0x{op:02x} at byte {at}")),
            }
        }
    }

    fn push(&mut self, v: Value) {
        self.stack.push(Item::Value(v));
    }

    fn pop(&mut self) -> Result<Value, Error> {
        match self.stack.pop() {
            Some(Item::Value(v)) => Ok(v),
            Some(Item::Mark) => Err("unexpected MARK on the pickle stack".into()),
            None => Err("the pickle stack is empty".into()),
        }
    }

    fn pop_to_mark(&mut self) -> Result<Vec<Value>, Error> {
        let mark = self
            .stack
            .iter()
            .rposition(|i| matches!(i, Item::Mark))
            .ok_or("no MARK on the pickle stack")?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items
            .into_iter()
            .map(|i| match i {
                Item::Value(v) => v,
                Item::Mark => unreachable!("the last mark was found above"),
            })
            .collect())
    }

    fn memoize(&mut self, index: u32) -> Result<(), Error> {
        match self.stack.last() {
            Some(Item::Value(v)) => {
                self.memo.insert(index, v.clone());
                Ok(())
            }
            _ => Err("PUT with no value on the pickle stack".into()),
        }
    }

    fn recall(&mut self, index: u32) -> Result<(), Error> {
        let v = self.memo.get(&index).cloned().ok_or(format!("GET of unset memo {index}"))?;
        self.push(v);
        Ok(())
    }
}

fn storage_ref(pid: Value) -> Result<StorageRef, Error> {
    let Value::Tuple(parts) = pid else {
        return Err(format!("a persistent id is {}, not a tuple", pid.kind()));
    };
    match parts.as_slice() {
        [Value::Str(tag), Value::Global(module, class), Value::Str(key), Value::Str(_location), numel, _view]
            if tag == "storage" && module == "torch" =>
        {
            let dtype = Dtype::from_storage(class)
                .ok_or_else(|| format!("unsupported storage type torch.{class}"))?;
            Ok(StorageRef { dtype, key: key.clone(), numel: numel.usize()? })
        }
        _ => Err("a persistent id is not a storage reference".into()),
    }
}

fn reduce(callable: Value, args: Value) -> Result<Value, Error> {
    let Value::Global(module, name) = &callable else {
        return Err(format!("REDUCE of {}, not a global", callable.kind()));
    };
    let Value::Tuple(args) = args else {
        return Err(format!("REDUCE arguments are {}, not a tuple", args.kind()));
    };
    match (module.as_str(), name.as_str(), args.as_slice()) {
        // The (empty) backward-hooks argument of a tensor.
        ("collections", "OrderedDict", []) => Ok(Value::Dict(Vec::new())),
        (
            "torch._utils",
            "_rebuild_tensor_v2",
            [storage, offset, size, stride, _grad, hooks, ..],
        ) => {
            let Value::Storage(storage) = storage else {
                return Err(format!("a tensor's storage is {}", storage.kind()));
            };
            if !matches!(hooks, Value::Dict(h) if h.is_empty()) {
                return Err("a tensor with backward hooks".into());
            }
            let (shape, stride) = (size.usizes()?, stride.usizes()?);
            if shape.len() != stride.len() {
                return Err("a tensor's size and stride differ in length".into());
            }
            Ok(Value::Tensor(TensorRef {
                storage: storage.clone(),
                offset: offset.usize()?,
                shape,
                stride,
            }))
        }
        _ => Err(format!("unsupported object {module}.{name}")),
    }
}

fn take<'a>(bytes: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], Error> {
    let end = pos.checked_add(n).filter(|&e| e <= bytes.len()).ok_or_else(|| {
        format!("the file ends early (wanted {n} bytes at byte {} of {})", *pos, bytes.len())
    })?;
    let slice = &bytes[*pos..end];
    *pos = end;
    Ok(slice)
}

fn read_u32(bytes: &[u8], pos: &mut usize) -> Result<u32, Error> {
    let b = take(bytes, pos, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn read_u64(bytes: &[u8], pos: &mut usize) -> Result<u64, Error> {
    let b = take(bytes, pos, 8)?;
    Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

fn read_line(bytes: &[u8], pos: &mut usize) -> Result<String, Error> {
    let rest = &bytes[*pos..];
    let n = rest.iter().position(|&b| b == b'\n').ok_or("a GLOBAL without a newline")?;
    let line = std::str::from_utf8(&rest[..n]).map_err(|_| "a GLOBAL name is not UTF-8")?;
    *pos += n + 1;
    Ok(line.to_string())
}
