// pgjdbc against vectorgate's vector SQL, the way Java applications call it.
// Run as a single-file program: java -cp /usr/share/java/postgresql.jar VectorClient.java <url> <user> <password>
// Each section prints `name=value` lines; a section that throws prints `name!error=<SQLSTATE> <message>`.
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;

public class VectorClient {
  interface Section {
    void run() throws Exception;
  }

  private static String url;
  private static Properties login;

  public static void main(String[] args) throws Exception {
    url = args[0];
    login = new Properties();
    login.setProperty("user", args[1]);
    login.setProperty("password", args[2]);
    section("setup", VectorClient::setup);
    for (String mode : new String[] {"text", "binary"}) {
      String params = mode.equals("binary") ? "binaryTransfer=true&prepareThreshold=1" : "prepareThreshold=1";
      section(mode + ".string", () -> searchWithString(mode, params));
      section(mode + ".array", () -> searchWithArray(mode, params));
      section(mode + ".upsert", () -> upsertAndGet(mode, params));
      section(mode + ".metadata", () -> metadata(mode, params));
    }
    section("errors", VectorClient::errors);
    section("settings", VectorClient::settings);
  }

  private static void section(String name, Section body) {
    try {
      body.run();
    } catch (Exception e) {
      String state = e instanceof SQLException ? ((SQLException) e).getSQLState() : e.getClass().getSimpleName();
      System.out.println(name + "!error=" + state + " " + String.valueOf(e.getMessage()).replace('\n', ' '));
    }
    System.out.flush();
  }

  private static void print(String key, Object value) {
    System.out.println(key + "=" + value);
  }

  private static Connection connect(String parameters) throws SQLException {
    String full = parameters.isEmpty() ? url : url + (url.contains("?") ? "&" : "?") + parameters;
    return DriverManager.getConnection(full, login);
  }

  private static void setup() throws SQLException {
    try (Connection c = connect(""); Statement s = c.createStatement()) {
      try (ResultSet rs = s.executeQuery("SELECT vector_create_collection('jdbc', 3, shards => 2)")) {
        rs.next();
        print("setup.created", rs.getString(1));
      }
      s.execute("SELECT vector_create_collection('jdbc_writes', 3)");
      s.execute("SELECT vector_upsert('jdbc', 'a', '[1,0,0]', '{\"n\":1}')");
      s.execute("SELECT vector_upsert('jdbc', 'b', '[0,1,0]', '{\"n\":2}')");
      s.execute("SELECT vector_upsert('jdbc', 'c', '[0,0,1]', NULL)");
      print("setup.done", "true");
    }
  }

  /** Rows as id:distance:payload, run several times so that the statement becomes server-prepared. */
  private static String rows(PreparedStatement ps) throws SQLException {
    List<String> out = new ArrayList<>();
    try (ResultSet rs = ps.executeQuery()) {
      while (rs.next()) out.add(rs.getString("id") + ":" + rs.getFloat("distance") + ":" + rs.getString("payload"));
    }
    return String.join(",", out);
  }

  private static void searchWithString(String mode, String params) throws SQLException {
    try (Connection c = connect(params);
        PreparedStatement ps = c.prepareStatement("SELECT * FROM vector_search(?, ?, ?)")) {
      List<String> runs = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        ps.setString(1, "jdbc");
        ps.setString(2, "[0,1,0]");
        ps.setInt(3, 2);
        runs.add(rows(ps));
      }
      print(mode + ".string", String.join("|", runs));
    }
  }

  private static void searchWithArray(String mode, String params) throws SQLException {
    try (Connection c = connect(params);
        PreparedStatement ps = c.prepareStatement("SELECT id, distance, payload FROM vector_search(?, ?, k => ?, filter => ?::jsonb)")) {
      List<String> runs = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        ps.setString(1, "jdbc");
        ps.setArray(2, c.createArrayOf("float4", new Float[] {1f, 0f, 0f}));
        ps.setLong(3, 2L);
        ps.setString(4, "{\"n\": {\"$gte\": 1}}");
        runs.add(rows(ps));
      }
      ps.setString(1, "jdbc");
      ps.setObject(2, new float[] {0f, 0f, 1f});
      ps.setLong(3, 1L);
      ps.setString(4, null);
      runs.add(rows(ps));
      print(mode + ".array", String.join("|", runs));
    }
  }

  private static void upsertAndGet(String mode, String params) throws SQLException {
    try (Connection c = connect(params)) {
      try (PreparedStatement ps = c.prepareStatement("SELECT vector_upsert(?, ?, ?, ?::jsonb)")) {
        for (int i = 0; i < 3; i++) {
          ps.setString(1, "jdbc_writes");
          ps.setString(2, mode + i);
          ps.setArray(3, c.createArrayOf("float4", new Float[] {0.5f, 0.25f, (float) i}));
          ps.setString(4, "{\"mode\":\"" + mode + "\"}");
          try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            if (rs.getLong(1) != 1) throw new IllegalStateException("upsert returned " + rs.getLong(1));
          }
        }
      }
      try (PreparedStatement ps = c.prepareStatement("SELECT id, vector, payload FROM vector_get(?, ?)")) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
          ps.setString(1, "jdbc_writes");
          ps.setString(2, mode + i);
          try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            Array array = rs.getArray("vector");
            out.add(rs.getString(1) + ":" + Arrays.toString((Float[]) array.getArray()) + ":" + rs.getString(3));
          }
        }
        print(mode + ".upsert", String.join("|", out));
      }
    }
  }

  private static void metadata(String mode, String params) throws SQLException {
    try (Connection c = connect(params);
        PreparedStatement ps = c.prepareStatement("SELECT * FROM vector_search(?, ?, ?)")) {
      ResultSetMetaData md = ps.getMetaData();
      List<String> cols = new ArrayList<>();
      for (int i = 1; i <= md.getColumnCount(); i++) cols.add(md.getColumnName(i) + " " + md.getColumnTypeName(i));
      print(mode + ".metadata", String.join(",", cols));
      List<String> types = new ArrayList<>();
      for (int i = 1; i <= 3; i++) types.add(ps.getParameterMetaData().getParameterTypeName(i));
      print(mode + ".parameters", String.join(",", types));
    }
  }

  private static void errors() throws SQLException {
    String[] bad = {
      "SELECT * FROM vector_search('jdbc', '[1,x]', 1)",
      "SELECT * FROM vector_search('jdbc', '[1,2]', 1)",
      "SELECT * FROM vector_search('nope', '[1,2,3]', 1)",
      "SELECT vector_create_collection('jdbc', 3)",
      "SELECT * FROM vector_search('jdbc', '[1,2,3]', 100000)",
      "SELECT vector_set_policy('jdbc', 'nope', '1')",
    };
    try (Connection c = connect(""); Statement s = c.createStatement()) {
      List<String> states = new ArrayList<>();
      for (String sql : bad) {
        try {
          s.executeQuery(sql).close();
          states.add("none");
        } catch (SQLException e) {
          states.add(e.getSQLState());
        }
        try (ResultSet rs = s.executeQuery("SELECT 1")) {
          rs.next();
        }
      }
      print("errors", String.join(",", states));
    }
  }

  private static void settings() throws SQLException {
    try (Connection c = connect(""); Statement s = c.createStatement()) {
      s.execute("SET vectorgate.ef_search = 48");
      try (ResultSet rs = s.executeQuery("SHOW vectorgate.ef_search")) {
        rs.next();
        print("settings.show", rs.getMetaData().getColumnName(1) + "=" + rs.getString(1));
      }
      s.execute("RESET vectorgate.ef_search");
      try (ResultSet rs = s.executeQuery("SHOW vectorgate.ef_search")) {
        rs.next();
        print("settings.reset", rs.getString(1));
      }
    }
  }
}
