fn main() {
    let path = std::env::args().nth(1).unwrap();
    let n: i32 = std::env::args().nth(2).unwrap().parse().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let engine = wasmi::Engine::new(&wasmi::Config::default());
    let module = wasmi::Module::new(&engine, &bytes[..]).unwrap();
    let mut store = wasmi::Store::new(&engine, ());
    let instance = wasmi::Linker::<()>::new(&engine).instantiate_and_start(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<i32, i32>(&store, "run").unwrap();
    println!("{}", run.call(&mut store, n).unwrap());
}
